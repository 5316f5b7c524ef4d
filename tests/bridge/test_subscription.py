"""The bridge reports its subscription from the broker's SUBACK: granted topics at INFO, topics
the broker refused (an ACL, on brokers that say so in the SUBACK) as an error naming them, since
their messages never arrive."""

from __future__ import annotations

import logging
import threading

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from mqtt_bridge.pipeline.input.mqtt import BrokerLink


def link_for(topics: list[str]) -> BrokerLink:
    link = BrokerLink.__new__(BrokerLink)
    link.topics = sorted(topics)
    link.subacks = []
    link._subscribing, link._subscribing_lock = {}, threading.Lock()
    return link


def test_a_refused_subscription_is_an_error_naming_the_topic(caplog):
    caplog.set_level(logging.INFO, logger="exist_bridge.mqtt")
    link = link_for(["allowed/button", "denied/button"])
    granted, refused = (
        ReasonCode(PacketTypes.SUBACK, identifier=1),
        ReasonCode(PacketTypes.SUBACK, identifier=0x80),
    )
    link._on_subscribe(None, None, 1, [granted, refused], None)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(errors) == 1 and "denied/button" in errors[0] and "allowed" not in errors[0]
    assert infos == ["subscribed to allowed/button"]
    assert link.subacks == [[granted, refused]]


def test_a_granted_subscription_is_logged_once_it_is_acknowledged(caplog):
    caplog.set_level(logging.DEBUG, logger="exist_bridge.mqtt")
    link = link_for(["a/+", "b/#"])
    ok = ReasonCode(PacketTypes.SUBACK, identifier=1)
    link._on_subscribe(None, None, 1, [ok, ok], None)
    assert [r.getMessage() for r in caplog.records] == ["subscribed to a/+, b/#"]
