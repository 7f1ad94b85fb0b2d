#!/usr/bin/python3
"""A Tetragon API client that is not Vigil's: Python grpcio with protoc-generated messages.

The tests drive a running agent with it, as an operator's or a SIEM forwarder's own tooling
would. Every result is one JSON document on stdout; a gRPC error is
{"error": CODE, "details": ...} with exit status 3.

  tetragon_client.py --socket PATH --protos DIR health|version|info|list
  tetragon_client.py --address HOST:PORT --ca CA.pem [--cert C.pem --key K.pem] ...   (TCP, TLS)
  tetragon_client.py ... add FILE | delete NAME
  tetragon_client.py ... configure NAME [--enable true|false] [--mode TP_MODE_ENFORCE|TP_MODE_MONITOR]
  tetragon_client.py ... events [--allow JSON] [--deny JSON] [--fields JSON]
                         [--trigger ARGV_JSON] [--want-kind KIND] [--timeout S]

`events` opens GetEvents, then runs the trigger command every 200 ms until an event of
--want-kind from one of the trigger's processes arrives (the stream is open by then, whatever
the server's start-up takes), or the timeout passes; it prints the trigger's pids and every
event received.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import grpc
from google.protobuf import json_format

API = "/tetragon.FineGuidanceSensors/"


def load_messages(proto_dir):
    """Compiles api/v1/tetragon/*.proto with protoc into a module directory, once per content
    of the .proto files (kept in the temporary directory: protoc is slow in the emulated guests)."""
    protos = [os.path.join(proto_dir, "tetragon", f) for f in sorted(os.listdir(os.path.join(proto_dir, "tetragon"))) if f.endswith(".proto")]
    digest = hashlib.sha256()
    for p in protos:
        with open(p, "rb") as f:
            digest.update(f.read())
    out = os.path.join(tempfile.gettempdir(), "vigil-pyapi-" + digest.hexdigest()[:16])
    if not os.path.exists(os.path.join(out, "tetragon", "sensors_pb2.py")):
        work = tempfile.mkdtemp(prefix="vigil-pyapi-")
        subprocess.run(["protoc", "-I", proto_dir, "--python_out", work] + protos, check=True)
        try:
            os.rename(work, out)  # whole or not at all: a concurrent client made it first
        except OSError:
            shutil.rmtree(work, ignore_errors=True)
    sys.path.insert(0, out)
    from tetragon import events_pb2, sensors_pb2, tetragon_pb2  # noqa: E402

    return events_pb2, sensors_pb2, tetragon_pb2


def as_dict(message):
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket")
    ap.add_argument("--address", help="HOST:PORT of the TCP API (TLS)")
    ap.add_argument("--ca", help="the CA that signed the server's certificate")
    ap.add_argument("--cert", help="this client's certificate")
    ap.add_argument("--key", help="this client's key")
    ap.add_argument("--server-name", default="localhost", help="the name the server's certificate is checked against")
    ap.add_argument("--plaintext-tcp", help="HOST:PORT to speak plaintext gRPC to (a server that wants TLS refuses it)")
    ap.add_argument("--protos", required=True)
    ap.add_argument("command")
    ap.add_argument("operand", nargs="?")
    ap.add_argument("--allow")
    ap.add_argument("--deny")
    ap.add_argument("--fields")
    ap.add_argument("--trigger")
    ap.add_argument("--want-kind", default="process_exec")
    ap.add_argument("--timeout", type=float, default=10)
    ap.add_argument("--enable", choices=["true", "false"])
    ap.add_argument("--mode", choices=["TP_MODE_ENFORCE", "TP_MODE_MONITOR"])
    a = ap.parse_args()
    events_pb2, sensors_pb2, tetragon_pb2 = load_messages(a.protos)
    if a.plaintext_tcp:
        channel = grpc.insecure_channel(a.plaintext_tcp)
    elif a.address:
        def read(path):
            with open(path, "rb") as f:
                return f.read()

        creds = grpc.ssl_channel_credentials(
            root_certificates=read(a.ca), private_key=read(a.key) if a.key else None, certificate_chain=read(a.cert) if a.cert else None)
        channel = grpc.secure_channel(a.address, creds, options=[("grpc.ssl_target_name_override", a.server_name)])
    else:
        channel = grpc.insecure_channel("unix://" + a.socket)

    def unary(name, request, response_type):
        call = channel.unary_unary(API + name, request_serializer=lambda m: m.SerializeToString(), response_deserializer=response_type.FromString)
        return call(request, timeout=a.timeout)

    try:
        if a.command == "health":
            r = unary("GetHealth", tetragon_pb2.GetHealthStatusRequest(), tetragon_pb2.GetHealthStatusResponse)
        elif a.command == "version":
            r = unary("GetVersion", sensors_pb2.GetVersionRequest(), sensors_pb2.GetVersionResponse)
        elif a.command == "info":
            r = unary("GetInfo", sensors_pb2.GetInfoRequest(), sensors_pb2.GetInfoResponse)
        elif a.command == "list":
            r = unary("ListTracingPolicies", sensors_pb2.ListTracingPoliciesRequest(), sensors_pb2.ListTracingPoliciesResponse)
        elif a.command == "add":
            with open(a.operand) as f:
                r = unary("AddTracingPolicy", sensors_pb2.AddTracingPolicyRequest(yaml=f.read()), sensors_pb2.AddTracingPolicyResponse)
        elif a.command == "delete":
            r = unary("DeleteTracingPolicy", sensors_pb2.DeleteTracingPolicyRequest(name=a.operand), sensors_pb2.DeleteTracingPolicyResponse)
        elif a.command == "configure":
            request = sensors_pb2.ConfigureTracingPolicyRequest(name=a.operand)
            if a.enable:
                request.enable = a.enable == "true"
            if a.mode:
                request.mode = sensors_pb2.TracingPolicyMode.Value(a.mode)
            r = unary("ConfigureTracingPolicy", request, sensors_pb2.ConfigureTracingPolicyResponse)
        elif a.command == "sensors":
            r = unary("ListSensors", sensors_pb2.ListSensorsRequest(), sensors_pb2.ListSensorsResponse)
        elif a.command == "events":
            print(json.dumps(stream_events(a, channel, events_pb2)))
            return 0
        else:
            print(json.dumps({"error": "USAGE", "details": "unknown command " + a.command}))
            return 2
    except grpc.RpcError as e:
        print(json.dumps({"error": e.code().name, "details": e.details()}))
        return 3
    print(json.dumps(as_dict(r)))
    return 0


def stream_events(a, channel, events_pb2):
    request = events_pb2.GetEventsRequest()
    if a.allow:
        request.allow_list.extend(json_format.ParseDict(f, events_pb2.Filter()) for f in json.loads(a.allow))
    if a.deny:
        request.deny_list.extend(json_format.ParseDict(f, events_pb2.Filter()) for f in json.loads(a.deny))
    if a.fields:
        request.field_filters.extend(json_format.ParseDict(f, events_pb2.FieldFilter()) for f in json.loads(a.fields))
    call = channel.unary_stream(API + "GetEvents", request_serializer=lambda m: m.SerializeToString(), response_deserializer=events_pb2.GetEventsResponse.FromString)
    stream = call(request, timeout=a.timeout)
    pids, received, done = [], [], threading.Event()
    lock = threading.Lock()

    def trigger():
        argv = json.loads(a.trigger) if a.trigger else None
        while argv and not done.is_set():
            p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with lock:
                pids.append(p.pid)
            p.wait()
            done.wait(0.2)

    worker = threading.Thread(target=trigger, daemon=True)
    worker.start()
    error = None
    try:
        for response in stream:
            event = as_dict(response)
            received.append(event)
            body = event.get(a.want_kind)
            pid = body.get("process", {}).get("pid") if body else None
            with lock:
                if pid is not None and pid in pids:
                    break
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
            error = {"code": e.code().name, "details": e.details()}
    done.set()
    stream.cancel()
    worker.join()
    with lock:
        return {"pids": pids, "events": received, "error": error}


if __name__ == "__main__":
    sys.exit(main())
