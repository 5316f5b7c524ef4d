"""BrokerLink.ack_many: a committed batch is acknowledged in order, waking paho's network thread
once (paho 2.x's wake-up socket), or one by one when that socket isn't there."""

from __future__ import annotations

import socket

from mqtt_bridge.pipeline.input.mqtt import BrokerLink


class FakeClient:
    """Records acks; like paho, each ack writes a wake-up byte to ``_sockpairW`` when it has one."""

    def __init__(self, wake: socket.socket | None):
        self.acks: list[tuple[int, int]] = []
        if wake is not None:
            self._sockpairW = wake
        self.on_ack = None

    def ack(self, mid: int, qos: int) -> None:
        self.acks.append((mid, qos))
        wake = getattr(self, "_sockpairW", None)
        if wake is not None:
            wake.send(b"x")
        if self.on_ack is not None:
            self.on_ack()


def link_with(client: FakeClient) -> BrokerLink:
    link = BrokerLink.__new__(BrokerLink)
    link.client = client
    return link


def pending_bytes(sock: socket.socket) -> bytes:
    sock.setblocking(False)
    try:
        return sock.recv(1024)
    except BlockingIOError:
        return b""


def test_a_batch_is_acked_in_order_with_one_wake_up():
    reader, writer = socket.socketpair()
    client = FakeClient(writer)
    link_with(client).ack_many([(5, 1), (6, 1), (7, 1), (9, 1)])
    assert client.acks == [(5, 1), (6, 1), (7, 1), (9, 1)]
    assert pending_bytes(reader) == b"0"  # one wake-up, not four
    assert client._sockpairW is writer  # paho's socket is back in place
    reader.close()
    writer.close()


def test_without_the_wake_up_socket_acks_go_one_by_one():
    client = FakeClient(None)
    link_with(client).ack_many([(1, 1), (2, 1)])
    assert client.acks == [(1, 1), (2, 1)]


def test_a_socket_reset_during_the_batch_keeps_pahos_new_socket_and_closes_the_old_one():
    reader, writer = socket.socketpair()
    new_reader, new_writer = socket.socketpair()
    client = FakeClient(writer)

    def reset() -> None:  # paho reconnecting: new sockets (it closes what it holds: the stand-in)
        client._sockpairW.close()
        client._sockpairW = new_writer
        client.on_ack = None

    client.on_ack = reset
    link_with(client).ack_many([(1, 1), (2, 1), (3, 1)])
    assert client.acks == [(1, 1), (2, 1), (3, 1)]
    assert client._sockpairW is new_writer
    assert writer.fileno() == -1  # the replaced socket was closed, not leaked
    for s in (reader, new_reader, new_writer):
        s.close()
