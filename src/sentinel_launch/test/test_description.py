"""Parsing, evaluation and validation of launch files into ProcessSpec lists."""

import importlib.metadata
import os
import sys

import pytest

from sentinel_launch.description import (ArgumentError, LaunchError, LaunchFileError,
                                         compose_namespace, describe_arguments, load,
                                         resolve_node_executable)


def by_name(description):
    return {spec.name: spec for spec in description.processes}


def ros_args(spec):
    """The part of a node's command line after --ros-args."""
    return list(spec.cmd[spec.cmd.index('--ros-args') + 1:])


# -- every supported tag ----------------------------------------------------

def test_every_supported_tag(write, environ, prefix, tmp_path):
    params = tmp_path / 'params.yaml'
    params.write_text('talker:\n  ros__parameters:\n    rate: 5\n')
    write('inner.launch.xml', """
        <launch>
          <arg name="who" description="passed in by the includer"/>
          <arg name="inner_default" default="from-inner"/>
          <executable cmd="echo $(var who) $(var inner_default) $(var outer)" name="inner_echo"/>
        </launch>
    """)
    main = write('main.launch.xml', """
        <?xml version="1.0"?>
        <launch version="0.1.1">
          <arg name="robot" default="r1" description="robot to drive"/>
          <arg name="rate" default="10"/>
          <let name="outer" value="$(var robot)-outer"/>
          <set_env name="SENTINEL_MODE" value="test"/>
          <group>
            <push-ros-namespace namespace="fleet"/>
            <node pkg="fake_pkg" exec="talker" name="talker" namespace="$(var robot)"
                  output="screen" respawn="true" respawn_delay="1.5" args="--verbose 'two words'">
              <param from="$(dirname)/params.yaml"/>
              <param name="rate" value="$(var rate)"/>
              <remap from="chatter" to="/global/chatter"/>
            </node>
          </group>
          <node pkg="fake_pkg" exec="listener"/>
          <executable cmd="sleep $(env SLEEP_FOR 3)" name="sleeper" output="both"/>
          <include file="$(dirname)/inner.launch.xml">
            <arg name="who" value="$(var robot)"/>
          </include>
        </launch>
    """)
    description = load(main, environ=environ)
    processes = by_name(description)
    assert list(processes) == ['talker', 'listener', 'sleeper', 'inner_echo']

    talker = processes['talker']
    assert talker.kind == 'node'
    assert talker.cmd == (
        str(prefix / 'lib/fake_pkg/talker'), '--verbose', 'two words',
        '--ros-args', '-r', '__node:=talker', '-r', '__ns:=/fleet/r1',
        '--params-file', str(params), '-p', 'rate:=10', '-r', 'chatter:=/global/chatter')
    assert talker.namespace == '/fleet/r1'
    assert talker.output == 'screen'
    assert talker.respawn is True and talker.respawn_delay == 1.5
    assert talker.env == (('SENTINEL_MODE', 'test'),)
    assert talker.location.file == str(main) and talker.location.line == 9

    listener = processes['listener']
    assert listener.cmd == (str(prefix / 'lib/fake_pkg/listener'),)  # no --ros-args at all
    assert listener.output == 'log' and listener.respawn is False
    assert listener.respawn_delay == 0.0

    sleeper = processes['sleeper']
    assert sleeper.kind == 'executable'
    assert os.path.basename(sleeper.cmd[0]) == 'sleep' and os.path.isabs(sleeper.cmd[0])
    assert sleeper.cmd[1:] == ('3',)
    assert sleeper.output == 'both'

    assert processes['inner_echo'].cmd[1:] == ('r1', 'from-inner', 'r1-outer')
    assert [a.name for a in description.arguments] == ['robot', 'rate', 'inner_default']


def test_command_line_overrides_defaults(write, environ):
    path = write('a.launch.xml', """
        <launch>
          <arg name="rate" default="10"/>
          <arg name="host" default="$(env NOT_SET_ANYWHERE)"/>
          <node pkg="fake_pkg" exec="talker"><param name="rate" value="$(var rate)"/></node>
          <executable cmd="echo $(var host)"/>
        </launch>
    """)
    # The default of an overridden argument is never evaluated, so the unset
    # environment variable in it is not an error.
    processes = by_name(load(path, {'rate': '2.5', 'host': 'h'}, environ=environ))
    assert ros_args(processes['talker']) == ['-p', 'rate:=2.5']
    assert processes['echo'].cmd[1:] == ('h',)


def test_find_pkg_share_and_env_substitutions(write, environ, prefix):
    shared = prefix / 'share' / 'fake_pkg' / 'launch' / 'shared.launch.xml'
    shared.write_text('<launch><executable cmd="echo shared $(env SITE)" name="shared"/></launch>')
    path = write('a.launch.xml', """
        <launch>
          <set_env name="SITE" value="substation"/>
          <include file="$(find-pkg-share fake_pkg)/launch/shared.launch.xml"/>
        </launch>
    """)
    (spec,) = load(path, environ=environ).processes
    assert spec.cmd[1:] == ('shared', 'substation')
    assert spec.env == (('SITE', 'substation'),)


# -- conditions -------------------------------------------------------------

def test_if_and_unless_on_every_tag_that_takes_them(write, environ):
    path = write('a.launch.xml', """
        <launch>
          <arg name="on" default="true"/>
          <arg name="off" default="False"/>
          <arg name="skipped" default="x" if="$(var off)"/>
          <let name="chosen" value="a"/>
          <let name="chosen" value="b" unless="$(var on)"/>
          <node pkg="fake_pkg" exec="talker" if="$(var on)"/>
          <node pkg="fake_pkg" exec="listener" if="$(var off)"/>
          <executable cmd="echo $(var chosen)" name="kept" unless="0"/>
          <executable cmd="echo gone" name="gone" unless="1"/>
          <group if="$(var off)"><executable cmd="echo in-group" name="in_group"/></group>
          <group unless="$(var off)"><executable cmd="echo other" name="other_group"/></group>
          <include file="$(dirname)/never.launch.xml" if="$(var off)"/>
        </launch>
    """)
    processes = by_name(load(path, environ=environ))
    assert list(processes) == ['talker', 'kept', 'other_group']
    assert processes['kept'].cmd[1:] == ('a',)


def test_disabled_arg_is_not_defined(write, environ):
    path = write('a.launch.xml', """
        <launch>
          <arg name="x" default="1" if="false"/>
          <executable cmd="echo $(var x)"/>
        </launch>
    """)
    with pytest.raises(LaunchFileError, match=r"a.launch.xml:3: <executable> attribute "
                                              r"'cmd': launch variable 'x' is not defined"):
        load(path, environ=environ)


# -- scoping and namespaces -------------------------------------------------

@pytest.mark.parametrize('base, namespace, expected', [
    ('', '', ''),
    ('', 'robot', '/robot'),
    ('/fleet', 'robot', '/fleet/robot'),
    ('/fleet', '/abs', '/abs'),
    ('/fleet', '/', '/'),
    ('/a', 'b//c/', '/a/b/c'),
    ('/a', '', '/a'),
])
def test_compose_namespace(base, namespace, expected):
    assert compose_namespace(base, namespace) == expected


def test_namespaces_compose_like_ros2_launch(write, environ):
    path = write('a.launch.xml', """
        <launch>
          <group>
            <push-ros-namespace namespace="fleet"/>
            <node pkg="fake_pkg" exec="talker" name="plain"/>
            <node pkg="fake_pkg" exec="talker" name="relative" namespace="r1"/>
            <node pkg="fake_pkg" exec="talker" name="absolute" namespace="/elsewhere"/>
            <group>
              <push-ros-namespace namespace="inner"/>
              <node pkg="fake_pkg" exec="talker" name="nested"/>
              <push-ros-namespace namespace="/reset"/>
              <node pkg="fake_pkg" exec="talker" name="after_absolute_push"/>
            </group>
            <node pkg="fake_pkg" exec="talker" name="after_inner_group"/>
          </group>
          <node pkg="fake_pkg" exec="talker" name="outside"/>
          <include file="$(dirname)/ns.launch.xml"/>
        </launch>
    """)
    write('ns.launch.xml', """
        <launch>
          <group>
            <push-ros-namespace namespace="included"/>
            <node pkg="fake_pkg" exec="talker" name="from_include"/>
          </group>
        </launch>
    """)
    namespaces = {name: spec.namespace
                  for name, spec in by_name(load(path, environ=environ)).items()}
    assert namespaces == {
        'plain': '/fleet', 'relative': '/fleet/r1', 'absolute': '/elsewhere',
        'nested': '/fleet/inner', 'after_absolute_push': '/reset',
        'after_inner_group': '/fleet', 'outside': '', 'from_include': '/included'}
    specs = by_name(load(path, environ=environ))
    assert ros_args(specs['relative']) == ['-r', '__node:=relative', '-r', '__ns:=/fleet/r1']
    assert ros_args(specs['outside']) == ['-r', '__node:=outside']


def test_group_scoping(write, environ):
    path = write('a.launch.xml', """
        <launch>
          <let name="v" value="outer"/>
          <group>
            <let name="v" value="scoped"/>
            <set_env name="E" value="scoped"/>
            <executable cmd="echo $(var v) $(env E)" name="in_scoped"/>
          </group>
          <executable cmd="echo $(var v) $(env E unset)" name="after_scoped"/>
          <group scoped="false">
            <let name="v" value="leaked"/>
            <set_env name="E" value="leaked"/>
          </group>
          <executable cmd="echo $(var v) $(env E unset)" name="after_unscoped"/>
        </launch>
    """)
    processes = by_name(load(path, environ=environ))
    assert processes['in_scoped'].cmd[1:] == ('scoped', 'scoped')
    assert processes['in_scoped'].env == (('E', 'scoped'),)
    assert processes['after_scoped'].cmd[1:] == ('outer', 'unset')
    assert processes['after_scoped'].env == ()
    assert processes['after_unscoped'].cmd[1:] == ('leaked', 'leaked')
    assert processes['after_unscoped'].env == (('E', 'leaked'),)


def test_include_passes_args_and_is_scoped(write, environ, tmp_path):
    (tmp_path / 'sub').mkdir()
    write('sub/child.launch.xml', """
        <launch>
          <arg name="level" default="child-default"/>
          <let name="leak" value="from-child"/>
          <executable cmd="echo $(var level) $(var parent_only) $(dirname)" name="child"/>
        </launch>
    """)
    path = write('parent.launch.xml', """
        <launch>
          <let name="parent_only" value="visible"/>
          <include file="$(dirname)/sub/child.launch.xml">
            <arg name="level" value="$(var parent_only)-given"/>
          </include>
          <include file="$(dirname)/sub/child.launch.xml"/>
          <executable cmd="echo $(var leak)" name="after"/>
        </launch>
    """)
    with pytest.raises(LaunchFileError, match="launch variable 'leak' is not defined"):
        load(path, environ=environ)
    path.write_text(path.read_text().replace('$(var leak)', 'done'))
    processes = by_name(load(path, environ=environ))
    sub = str(tmp_path / 'sub')
    assert processes['child-1'].cmd[1:] == ('visible-given', 'visible', sub)
    assert processes['child-2'].cmd[1:] == ('child-default', 'visible', sub)


def test_duplicate_names_get_distinct_labels(write, environ):
    path = write('a.launch.xml', """
        <launch>
          <node pkg="fake_pkg" exec="talker" name="camera" namespace="r1"/>
          <node pkg="fake_pkg" exec="talker" name="camera" namespace="r2"/>
          <executable cmd="echo 1"/>
          <executable cmd="echo 2"/>
          <executable cmd="echo 3" name="solo"/>
        </launch>
    """)
    assert list(by_name(load(path, environ=environ))) == [
        'r1/camera', 'r2/camera', 'echo-1', 'echo-2', 'solo']


# -- executables --------------------------------------------------------------

def test_lib_directory_of_first_prefix_wins(tmp_path, prefix):
    other = tmp_path / 'other'
    shadowing = other / 'lib' / 'fake_pkg' / 'talker'
    shadowing.parent.mkdir(parents=True)
    shadowing.write_text('#!/bin/sh\n')  # not executable: skipped
    environ = {'AMENT_PREFIX_PATH': os.pathsep.join([str(other), str(prefix)])}
    assert resolve_node_executable('fake_pkg', 'talker', environ) == (
        str(prefix / 'lib/fake_pkg/talker'),)
    shadowing.chmod(0o755)
    assert resolve_node_executable('fake_pkg', 'talker', environ) == (str(shadowing),)
    assert resolve_node_executable('fake_pkg', 'nope', environ) is None


def test_console_script_of_installed_distribution():
    try:
        importlib.metadata.distribution('sentinel_launch')
    except importlib.metadata.PackageNotFoundError:
        pytest.skip('sentinel_launch is not installed (pip install -e) in this interpreter')
    command = resolve_node_executable('sentinel_launch', 'sentinel-launch', {})
    assert command is not None
    if len(command) == 1:
        assert os.path.basename(command[0]) == 'sentinel-launch'
        assert os.access(command[0], os.X_OK)
    else:
        assert command[:2] == (sys.executable, '-c')
        assert 'sentinel_launch.cli' in command[2]
    assert resolve_node_executable('sentinel_launch', 'no-such-script', {}) is None
    assert resolve_node_executable('no_such_distribution_xyz', 'x', {}) is None


def test_node_uses_injected_resolver(write, environ):
    path = write('a.launch.xml', '<launch><node pkg="p" exec="e" name="n"/></launch>')
    calls = []

    def resolver(package, executable, env):
        calls.append((package, executable, env['AMENT_PREFIX_PATH']))
        return ('/usr/bin/python3', '-c', 'pass')

    (spec,) = load(path, environ=environ, resolver=resolver).processes
    assert calls == [('p', 'e', environ['AMENT_PREFIX_PATH'])]
    assert spec.cmd == ('/usr/bin/python3', '-c', 'pass', '--ros-args', '-r', '__node:=n')


# -- errors: each names the file, the line and the tag or attribute -----------

ERROR_CASES = {
    'unknown tag': (
        '<launch>\n  <nodes pkg="fake_pkg" exec="talker"/>\n</launch>\n',
        2, "<nodes>: unknown or misplaced tag inside <launch>"),
    'unknown tag in a disabled group': (
        '<launch>\n  <group if="false">\n    <timer period="1"/>\n  </group>\n</launch>\n',
        3, '<timer>: unknown or misplaced tag inside <group>'),
    'unknown child of node': (
        '<launch>\n  <node pkg="fake_pkg" exec="talker">\n    <env name="A" value="b"/>\n'
        '  </node>\n</launch>\n',
        3, '<env>: unknown or misplaced tag inside <node> (allowed there: <param>, <remap>)'),
    'push-ros-namespace outside a group': (
        '<launch>\n  <push-ros-namespace namespace="x"/>\n</launch>\n',
        2, '<push-ros-namespace>: unknown or misplaced tag inside <launch>'),
    'unknown attribute': (
        '<launch>\n  <node pkg="fake_pkg" exec="talker" ns="x"/>\n</launch>\n',
        2, "<node> attribute 'ns': unknown attribute (allowed: args, exec, if"),
    'condition on set_env': (
        '<launch>\n  <set_env name="A" value="b" if="true"/>\n</launch>\n',
        2, "<set_env> attribute 'if': unknown attribute"),
    'missing attribute': (
        '<launch>\n  <node pkg="fake_pkg"/>\n</launch>\n',
        2, "<node> attribute 'exec': required attribute is missing"),
    'unknown substitution': (
        '<launch>\n\n  <executable cmd="echo $(optenv HOME)"/>\n</launch>\n',
        3, "<executable> attribute 'cmd': unknown substitution '$(optenv HOME)'"),
    'unknown substitution in a disabled branch': (
        '<launch>\n  <let name="a" value="$(anon x)" if="false"/>\n</launch>\n',
        2, "<let> attribute 'value': unknown substitution"),
    'bad boolean in if': (
        '<launch>\n  <arg name="sim" default="yes"/>\n'
        '  <group if="$(var sim)"/>\n</launch>\n',
        3, "<group> attribute 'if': expected a boolean (true, false, 1 or 0), got 'yes'"),
    'bad boolean in respawn': (
        '<launch>\n  <node pkg="fake_pkg" exec="talker" respawn="always"/>\n</launch>\n',
        2, "<node> attribute 'respawn': expected a boolean"),
    'bad boolean in scoped': (
        '<launch>\n  <group scoped="maybe"/>\n</launch>\n',
        2, "<group> attribute 'scoped': expected a boolean"),
    'if and unless together': (
        '<launch>\n  <executable cmd="true" if="1" unless="0"/>\n</launch>\n',
        2, "<executable>: 'if' and 'unless' cannot both be given"),
    'param without value': (
        '<launch>\n  <node pkg="fake_pkg" exec="talker">\n    <param name="a"/>\n'
        '  </node>\n</launch>\n',
        3, "<param>: needs 'name' and 'value', or 'from'"),
    'param with from and value': (
        '<launch>\n  <node pkg="fake_pkg" exec="talker">\n'
        '    <param name="a" value="1" from="x.yaml"/>\n  </node>\n</launch>\n',
        3, "<param>: give either 'from'"),
    'missing parameter file': (
        '<launch>\n  <node pkg="fake_pkg" exec="talker">\n'
        '    <param from="/nonexistent/params.yaml"/>\n  </node>\n</launch>\n',
        3, "<param> attribute 'from': parameter file '/nonexistent/params.yaml' not found"),
    'bad output': (
        '<launch>\n  <node pkg="fake_pkg" exec="talker" output="own_log"/>\n</launch>\n',
        2, "<node> attribute 'output': unsupported value 'own_log'"),
    'bad respawn delay': (
        '<launch>\n  <executable cmd="true" respawn_delay="-1"/>\n</launch>\n',
        2, "<executable> attribute 'respawn_delay': expected a number of seconds >= 0"),
    'text content': (
        '<launch>\n  <arg name="a">\n    oops\n  </arg>\n</launch>\n',
        3, "<arg>: unexpected text content 'oops'"),
    'root is not launch': (
        '<?xml version="1.0"?>\n<launchfile/>\n',
        2, '<launchfile>: the root element of a launch file must be <launch>'),
    'unknown node executable': (
        '<launch>\n  <node pkg="fake_pkg" exec="ghost"/>\n</launch>\n',
        2, "<node> attribute 'exec': executable 'ghost' of package 'fake_pkg' not found"),
    'unknown program': (
        '<launch>\n  <executable cmd="surely-not-a-program-xyz --flag"/>\n</launch>\n',
        2, "<executable> attribute 'cmd': program 'surely-not-a-program-xyz' not found"),
    'unbalanced quotes in args': (
        '<launch>\n  <node pkg="fake_pkg" exec="talker" args="a \'b"/>\n</launch>\n',
        2, "<node> attribute 'args': cannot split into words"),
    'empty env name': (
        '<launch>\n  <set_env name="" value="b"/>\n</launch>\n',
        2, "<set_env> attribute 'name': invalid environment variable name"),
    'include of a missing file': (
        '<launch>\n  <include file="$(dirname)/missing.launch.xml"/>\n</launch>\n',
        2, "<include> attribute 'file': launch file"),
    'include arg without value': (
        '<launch>\n  <include file="x.launch.xml">\n    <arg name="a" default="b"/>\n'
        '  </include>\n</launch>\n',
        3, "<arg> attribute 'default': unknown attribute (allowed: name, value)"),
}


@pytest.mark.parametrize('case', list(ERROR_CASES))
def test_errors_name_file_line_and_tag(case, write, environ):
    body, line, fragment = ERROR_CASES[case]
    path = write('broken.launch.xml', body)
    with pytest.raises(LaunchFileError) as error:
        load(path, environ=environ)
    message = str(error.value)
    assert message.startswith(f'{path}:{line}: '), message
    assert fragment in message, message
    assert error.value.location.line == line


def test_invalid_xml_names_file_and_line(write, environ):
    path = write('broken.launch.xml', '<launch>\n  <arg name="a">\n</launch>\n')
    with pytest.raises(LaunchError, match=rf'^{path}:3: invalid XML: mismatched tag'):
        load(path, environ=environ)


def test_error_in_included_file_names_that_file(write, environ):
    inner = write('inner.launch.xml', '<launch>\n\n  <executable cmd="$(bogus)"/>\n</launch>\n')
    outer = write('outer.launch.xml', '<launch><include file="$(dirname)/inner.launch.xml"/>'
                                      '</launch>')
    with pytest.raises(LaunchFileError, match=rf"^{inner}:3: <executable> attribute 'cmd'"):
        load(outer, environ=environ)


def test_include_cycle_and_non_xml(write, environ):
    write('b.launch.xml', '<launch><include file="$(dirname)/a.launch.xml"/></launch>')
    a = write('a.launch.xml', '<launch><include file="$(dirname)/b.launch.xml"/></launch>')
    with pytest.raises(LaunchFileError, match='include cycle: .*a.launch.xml -> '
                                              '.*b.launch.xml -> .*a.launch.xml'):
        load(a, environ=environ)
    write('python.launch.py', '# not XML\n')
    c = write('c.launch.xml', '<launch><include file="$(dirname)/python.launch.py"/></launch>')
    with pytest.raises(LaunchFileError, match='only XML launch files can be included'):
        load(c, environ=environ)


def test_missing_required_argument(write, environ):
    path = write('a.launch.xml', """
        <launch>
          <arg name="optional" default="1" description="has a default"/>
          <arg name="robot" description="which robot"/>
        </launch>
    """)
    with pytest.raises(ArgumentError) as error:
        load(path, environ=environ)
    assert str(error.value).startswith(
        f"{path}:3: <arg> 'robot' is required but was not given (pass robot:=VALUE)")
    assert [(a.name, a.required, a.description) for a in error.value.available] == [
        ('optional', False, 'has a default'), ('robot', True, 'which robot')]
    with pytest.raises(ArgumentError, match='unknown launch argument.*: robt'):
        load(path, {'robt': 'r1'}, environ=environ)
    load(path, {'robot': 'r1'}, environ=environ)  # satisfied: no error


def test_unknown_argument(write, environ):
    path = write('a.launch.xml', '<launch><arg name="known" default="1"/></launch>')
    with pytest.raises(ArgumentError, match=r'unknown launch argument\(s\): other, zzz') as error:
        load(path, {'zzz': '1', 'known': '2', 'other': '3'}, environ=environ)
    assert [a.name for a in error.value.available] == ['known']


def test_arguments_of_disabled_branches_and_includes_are_known(write, environ):
    write('inner.launch.xml', """
        <launch>
          <arg name="inner_free" default="a" description="settable"/>
          <arg name="inner_fixed" default="b"/>
        </launch>
    """)
    path = write('outer.launch.xml', """
        <launch>
          <arg name="use_extra" default="false"/>
          <group if="$(var use_extra)">
            <arg name="extra" default="x"/>
            <include file="$(dirname)/inner.launch.xml">
              <arg name="inner_fixed" value="set-by-include"/>
            </include>
          </group>
        </launch>
    """)
    # `extra` and `inner_free` are only declared in a disabled branch, yet
    # passing them is not an error.
    load(path, {'extra': '1', 'inner_free': '2'}, environ=environ)
    names = [a.name for a in describe_arguments(path, environ=environ)]
    assert names == ['use_extra', 'extra', 'inner_free']
