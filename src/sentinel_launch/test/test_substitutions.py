"""Substitution syntax and evaluation, independent of any launch file."""

import pytest

from sentinel_launch.substitutions import (Context, Substitution, SubstitutionError, Text,
                                           parse, parse_bool, substitute)

SHARES = {'sentinel_sim': '/opt/ws/install/sentinel_sim/share/sentinel_sim'}


def context(variables=None, environ=None):
    return Context(variables=variables or {}, environ=environ or {},
                   launch_file='/ws/launch/site.launch.xml', package_share=SHARES.get)


def test_plain_text_is_one_literal():
    assert parse('just text, $ and ) too') == (Text('just text, $ and ) too'),)
    assert parse('') == ()


def test_parse_splits_literals_and_substitutions():
    assert parse('a$(var x)b$(env HOME /root)') == (
        Text('a'), Substitution('var', ('x',)), Text('b'), Substitution('env', ('HOME', '/root')))


def test_var():
    assert substitute('$(var robot)-$(var robot)', context({'robot': 'r1'})) == 'r1-r1'


def test_env_with_and_without_default():
    ctx = context(environ={'HOME': '/home/op'})
    assert substitute('$(env HOME)/x', ctx) == '/home/op/x'
    assert substitute('$(env MISSING fallback)', ctx) == 'fallback'
    assert substitute("$(env MISSING '')", ctx) == ''
    assert substitute('$(env MISSING "two words")', ctx) == 'two words'
    # A set variable wins over the default, even when it is empty.
    assert substitute('$(env EMPTY d)', context(environ={'EMPTY': ''})) == ''


def test_dirname_is_directory_of_current_file():
    assert substitute('$(dirname)/../config', context()) == '/ws/launch/../config'


def test_find_pkg_share_uses_injected_lookup():
    assert substitute('$(find-pkg-share sentinel_sim)/worlds', context()) == (
        '/opt/ws/install/sentinel_sim/share/sentinel_sim/worlds')


@pytest.mark.parametrize('text, fragment', [
    ('$(optenv X)', "unknown substitution '$(optenv X)'"),
    ('$(command ls)', 'supported: dirname, env, find-pkg-share, var'),
    ('$(var)', 'takes 1 argument(s), got 0'),
    ('$(var a b)', 'takes 1 argument(s), got 2'),
    ('$(env A b c)', 'takes 1 to 2 argument(s), got 3'),
    ('$(dirname x)', 'takes 0 argument(s), got 1'),
    ('$(var x', 'unterminated substitution'),
    ('$(var $(var x))', 'nested substitutions are not supported'),
    ('$()', 'empty substitution'),
    ("$(env A 'b)", 'unbalanced quote'),
])
def test_syntax_errors(text, fragment):
    with pytest.raises(SubstitutionError) as error:
        parse(text)
    assert fragment in str(error.value)


def test_evaluation_errors_name_the_culprit():
    with pytest.raises(SubstitutionError, match="launch variable 'robot' is not defined"):
        substitute('$(var robot)', context())
    with pytest.raises(SubstitutionError, match="environment variable 'NOPE' is not set"):
        substitute('$(env NOPE)', context())
    with pytest.raises(SubstitutionError, match="package 'ghost' not found"):
        substitute('$(find-pkg-share ghost)', context())


@pytest.mark.parametrize('text', ['true', 'True', 'TRUE', '1', ' true '])
def test_true_values(text):
    assert parse_bool(text) is True


@pytest.mark.parametrize('text', ['false', 'False', 'FALSE', '0'])
def test_false_values(text):
    assert parse_bool(text) is False


@pytest.mark.parametrize('text', ['yes', 'no', 'on', '', '2', 'ture'])
def test_other_booleans_are_errors(text):
    with pytest.raises(SubstitutionError, match='expected a boolean'):
        parse_bool(text)
