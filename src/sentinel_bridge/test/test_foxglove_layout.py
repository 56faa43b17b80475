"""The shipped Foxglove layout refers only to channels and services the bridge offers."""

import json
import re
from pathlib import Path

import pytest

from sentinel_bridge import foxglove_topics as topics
from sentinel_bridge.foxglove_requests import (RequestError, parse_acknowledge, parse_command,
                                               parse_estop, parse_login)
from sentinel_sim.site_config import load_site_config

REPO = Path(__file__).resolve().parents[3]
LAYOUT = REPO / 'config' / 'foxglove_layout.json'
SITE = REPO / 'config' / 'sites' / 'substation.yaml'


def _offered_topics() -> set[str]:
    site = load_site_config(SITE)
    cameras = [c.name for c in site.cameras] + [v.camera for v in site.vehicles if v.camera]
    offered = {value for name, value in vars(topics).items()
               if name.isupper() and isinstance(value, str) and value.startswith('/')}
    for camera in cameras:
        offered |= {topics.camera_image(camera), topics.camera_annotations(camera),
                    topics.camera_calibration(camera)}
    return offered


def _panels(node):
    if isinstance(node, str):
        yield node
    else:
        yield from _panels(node['first'])
        yield from _panels(node['second'])


@pytest.fixture(scope='module')
def layout():
    return json.loads(LAYOUT.read_text(encoding='utf-8'))


def test_every_panel_in_the_tree_is_configured(layout):
    configs = layout['configById']
    placed = set(_panels(layout['layout']))
    for tab in configs['Tab!main']['tabs']:
        placed |= set(_panels(tab['layout']))
    assert placed - {'Tab!main'} <= set(configs)
    assert set(configs) - placed == set(), 'configured panels that are never shown'


def test_every_referenced_topic_and_service_exists(layout):
    offered = _offered_topics()
    services = {topics.SERVICE_LOGIN, topics.SERVICE_LOGOUT, topics.SERVICE_ESTOP,
                topics.SERVICE_ACKNOWLEDGE, topics.SERVICE_COMMAND}
    for panel, config in layout['configById'].items():
        referenced = []
        image = config.get('imageMode', {})
        referenced += [image.get('imageTopic'), image.get('calibrationTopic')]
        referenced += list(image.get('annotations', {}))
        referenced += list(config.get('topics', {}))
        for key in ('topicPath', 'path', 'topicToRender'):
            if key in config:
                referenced.append(re.split(r'[.{\[]', config[key], maxsplit=1)[0])
        for topic in filter(None, referenced):
            assert topic in offered, f'{panel}: {topic} is not a bridge channel'
        if 'serviceName' in config:
            assert config['serviceName'] in services, panel


def test_service_panels_hold_requests_the_bridge_accepts(layout):
    parsers = {topics.SERVICE_LOGIN: parse_login, topics.SERVICE_ESTOP: parse_estop,
               topics.SERVICE_ACKNOWLEDGE: parse_acknowledge,
               topics.SERVICE_COMMAND: parse_command}
    for config in layout['configById'].values():
        if 'serviceName' not in config:
            continue
        payload = config['requestPayload'].encode()
        if config['serviceName'] == topics.SERVICE_ACKNOWLEDGE:
            with pytest.raises(RequestError, match='alert_id'):   # to be filled in by the user
                parsers[config['serviceName']](payload)
            document = json.loads(payload)
            document['alert_id'] = 'A-1'
            payload = json.dumps(document).encode()
        parsers[config['serviceName']](payload)
