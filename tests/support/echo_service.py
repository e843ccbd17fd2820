"""A bare grpc.aio echo service: the framework's limit, as a benchmark baseline.

    python -m tests.support.echo_service --port PORT

One unary method, `ecap.bench.v1.EchoService/Echo`, registered with a generic handler: it
decodes an `ecap.v1.ScoreTransactionRequest` and sends it back encoded, so a load generator
sends the same messages to it as to ScoreTransaction and the server pays the same protobuf
decoding. Nothing else: no interceptors, no auth, no health service, no metrics.
`echo_protoset` writes a descriptor set that describes the method, for clients such as ghz.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

import grpc
from google.protobuf import descriptor_pb2

from ecap.v1 import scoring_pb2

SERVICE = "ecap.bench.v1.EchoService"
METHOD = "Echo"
CALL = f"{SERVICE}/{METHOD}"
MESSAGE = scoring_pb2.ScoreTransactionRequest
_FILE = "ecap/bench/v1/echo.proto"


def echo_protoset(base: Path, out: Path) -> Path:
    """`base` (a descriptor set holding ecap/v1/scoring.proto and its imports) plus the echo
    service, written to `out`."""
    descriptors = descriptor_pb2.FileDescriptorSet.FromString(base.read_bytes())
    names = {file.name for file in descriptors.file}
    scoring_file = MESSAGE.DESCRIPTOR.file.name
    if scoring_file not in names:
        raise ValueError(f"{base} does not hold {scoring_file}: run `make gen`")
    message_type = f".{MESSAGE.DESCRIPTOR.full_name}"
    echo = descriptors.file.add(
        name=_FILE,
        package=SERVICE.rsplit(".", 1)[0],
        dependency=[scoring_file],
        syntax="proto3",
    )
    echo.service.add(name=SERVICE.rsplit(".", 1)[1]).method.add(
        name=METHOD, input_type=message_type, output_type=message_type
    )
    out.write_bytes(descriptors.SerializeToString())
    return out


async def _echo(request, context):
    return request


async def serve(host: str, port: int) -> None:
    """Serve the echo method on `host:port` until SIGTERM or SIGINT."""
    server = grpc.aio.server()
    handler = grpc.unary_unary_rpc_method_handler(
        _echo,
        request_deserializer=MESSAGE.FromString,
        response_serializer=MESSAGE.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE, {METHOD: handler}),)
    )
    if server.add_insecure_port(f"{host}:{port}") == 0:
        raise SystemExit(f"echo service: cannot bind {host}:{port}")
    await server.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    await server.stop(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
