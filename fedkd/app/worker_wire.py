"""The bytes between a ClientApp process and its node's warm worker (client_entry.py, client_worker.py): a
request is a Flower Message and Context as protobufs; a reply is a status byte, then the reply Message and
the updated Context, or the worker's traceback. Each part is sent as an 8-byte length and its bytes."""

from __future__ import annotations

import socket
import struct

from flwr.app import Context, Message
from flwr.common.serde import context_from_proto, context_to_proto, message_from_proto, message_to_proto
from flwr.proto.message_pb2 import Context as ProtoContext
from flwr.proto.message_pb2 import Message as ProtoMessage

OK, RAISED = b"k", b"e"


def send_parts(sock: socket.socket, *parts: bytes) -> None:
    sock.sendall(b"".join(struct.pack("!Q", len(p)) + p for p in parts))


def read_part(sock: socket.socket) -> bytes:
    (size,) = struct.unpack("!Q", _read_exactly(sock, 8))
    return _read_exactly(sock, size)


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise ConnectionError("the other side closed the connection mid-message")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def message_bytes(msg: Message) -> bytes:
    return message_to_proto(msg).SerializeToString()


def context_bytes(context: Context) -> bytes:
    return context_to_proto(context).SerializeToString()


def message_of(data: bytes) -> Message:
    proto = ProtoMessage()
    proto.ParseFromString(data)
    return message_from_proto(proto)


def context_of(data: bytes) -> Context:
    proto = ProtoContext()
    proto.ParseFromString(data)
    return context_from_proto(proto)
