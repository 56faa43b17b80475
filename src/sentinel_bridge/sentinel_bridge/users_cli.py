"""sentinel-users: manage operator accounts in the operations database.

    sentinel-users [--db-url URL] add NAME --role ROLE
    sentinel-users [--db-url URL] list
    sentinel-users [--db-url URL] disable NAME
    sentinel-users [--db-url URL] enable NAME
    sentinel-users [--db-url URL] set-password NAME

Passwords are read from a prompt (twice, not echoed) on a terminal, or as one
line from standard input otherwise (for scripts: `echo "$PW" | sentinel-users
add ...`); never from the command line, where other users could see them in
the process list. The database URL defaults to $SENTINEL_DB_URL, then to the
same SQLite file the launch file uses. Every change is audited with the OS
user who ran the command.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from sentinel_bridge import accounts
from sentinel_bridge.auth import Role, parse_role
from sentinel_bridge.operator_api_config import DEFAULT_DB_URL
from sentinel_bridge.passwords import check_policy
from sentinel_bridge.persistence.database import Database, DatabaseUnavailable

# Environment variable naming the database when --db-url is not given.
DB_URL_ENV = 'SENTINEL_DB_URL'
# Exit status for bad usage or input.
EXIT_USAGE = 2
# Exit status when the database cannot be reached.
EXIT_UNAVAILABLE = 3


def _actor() -> str:
    try:
        return f'cli:{getpass.getuser()}'
    except (KeyError, OSError):
        return f'cli:uid{os.getuid()}'


def read_password(stdin: TextIO, prompt: bool) -> str:
    """A new password from the terminal (asked twice) or one line of stdin."""
    if prompt:
        first = getpass.getpass('New password: ')
        if first != getpass.getpass('Repeat password: '):
            raise ValueError('the two passwords differ')
        password = first
    else:
        password = stdin.readline().rstrip('\r\n')
    check_policy(password)
    return password


def build_parser() -> argparse.ArgumentParser:
    """The command-line grammar."""
    parser = argparse.ArgumentParser(prog='sentinel-users', description=__doc__.split('\n')[0])
    parser.add_argument('--db-url', default=os.environ.get(DB_URL_ENV, DEFAULT_DB_URL),
                        help=f'SQLAlchemy URL (default: ${DB_URL_ENV} or {DEFAULT_DB_URL})')
    commands = parser.add_subparsers(dest='command', required=True)
    add = commands.add_parser('add', help='create an account')
    add.add_argument('name')
    add.add_argument('--role', required=True, help=', '.join(r.value for r in Role))
    commands.add_parser('list', help='list accounts')
    for name, text in (('disable', 'disable an account (its tokens stop working)'),
                       ('enable', 're-enable a disabled account'),
                       ('set-password', 'replace an account password')):
        sub = commands.add_parser(name, help=text)
        sub.add_argument('name')
    return parser


def run(argv: Sequence[str], stdin: TextIO, stdout: TextIO, stderr: TextIO,
        prompt: bool | None = None) -> int:
    """Execute one command; returns the exit status (used by main and the tests)."""
    args = build_parser().parse_args(argv)
    interactive = stdin.isatty() if prompt is None else prompt
    try:
        database = Database.open(args.db_url)
    except ValueError as error:
        print(f'sentinel-users: {error}', file=stderr)
        return EXIT_USAGE
    except DatabaseUnavailable as error:
        print(f'sentinel-users: database unavailable: {error}', file=stderr)
        return EXIT_UNAVAILABLE
    try:
        if args.command == 'list':
            for user in accounts.list_users(database):
                state = 'disabled' if user.disabled else 'enabled'
                print(f'{user.name}\t{user.role.value}\t{state}\t{user.created_at:%Y-%m-%d %H:%M}Z',
                      file=stdout)
        elif args.command == 'add':
            role = parse_role(args.role)
            accounts.check_name(args.name)
            accounts.add_user(database, args.name, role, read_password(stdin, interactive),
                              _actor())
            print(f'created {args.name} ({role.value})', file=stdout)
        elif args.command == 'set-password':
            accounts.set_password(database, args.name, read_password(stdin, interactive), _actor())
            print(f'password of {args.name} changed', file=stdout)
        else:
            disabled = args.command == 'disable'
            accounts.set_disabled(database, args.name, disabled, _actor())
            print(f'{args.name} {"disabled" if disabled else "enabled"}', file=stdout)
    except (ValueError, LookupError) as error:
        print(f'sentinel-users: {error.args[0] if error.args else error}', file=stderr)
        return EXIT_USAGE
    except DatabaseUnavailable as error:
        print(f'sentinel-users: database unavailable: {error}', file=stderr)
        return EXIT_UNAVAILABLE
    finally:
        database.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point."""
    try:
        return run(sys.argv[1:] if argv is None else argv, sys.stdin, sys.stdout, sys.stderr)
    except KeyboardInterrupt:
        return 130


if __name__ == '__main__':
    raise SystemExit(main())
