#!/usr/bin/env python3
"""Writes the equivalent configurations of onestop, nginx and HAProxy for
`make bench` (bench/run.sh) into a work directory.

usage: gen.py WORKDIR GRPC_BACKEND(ip:port) [ROUTES]

Ports (all loopback), fixed so the three proxies see the same traffic:
  18081  the fixed fast backend (nginx, `return 200` with a 1 KiB body)
  18080  onestop public listener (HTTP/1.1 + h2c); 18051 control, 18090 admin
  18082  nginx proxy, HTTP/1.1          18083  nginx proxy, h2c (grpc_pass)
  18084  HAProxy, HTTP/1.1              18085  HAProxy, h2c (gRPC)
Two configurations per proxy: `base` (passthrough, cache, gRPC) and
`routes` (the same plus ROUTES generated routes: half exact, half prefix).
  18087  onestop `secure` (channel + citizen JWT + BOLA + rate limit +
         signing), 18052 control, 18091 admin: beside `base`
"""
import os
import sys

WORK = sys.argv[1]
GRPC = sys.argv[2]
ROUTES = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
BACKEND = "127.0.0.1:18081"
GRPC_PATH = "/onestop.sim.traffic.v1.TrafficPolice/GetLicence"
BODY = ("x" * 1023)  # + "\n" = 1024 bytes


def w(path, text):
    path = os.path.join(WORK, path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def route_paths(n):
    """(kind, path) pairs; requests go to `path` (prefix routes get a tail)."""
    out = []
    for i in range(n):
        dept = i % 100
        if i % 2 == 0:
            out.append(("exact", f"/api/v1/depts/r{dept}/items/{i}"))
        else:
            out.append(("prefix", f"/api/v1/depts/r{dept}/docs/{i}/"))
    return out


# ---------------------------------------------------------------- backend
ECHO_MOD = "/usr/lib/nginx/modules/ngx_http_echo_module.so"
LOAD_ECHO = f"load_module {ECHO_MOD};" if os.path.exists(ECHO_MOD) else ""


def ov_delay_ms(i):
    """The overview scenario's department i answers after this long."""
    return 1 + (i * 14) // (OVERVIEW_DEPTS - 1)   # 1 … 15 ms


OVERVIEW_DEPTS = 30
ov_locs = ""
if LOAD_ECHO:
    ov_locs = "\n".join(
        f'    location ^~ /api/v1/depts/ov{i}/ {{ default_type application/json; echo_sleep {ov_delay_ms(i) / 1000:.3f}; echo \'{{"dept":"ov{i}","balance":1234}}\'; }}'
        for i in range(OVERVIEW_DEPTS))
w("backend/nginx.conf", f"""
{LOAD_ECHO}
# The fixed fast backend: 1 KiB for every HTTP/1.1 GET, no logging.
# (ov* paths: the overview scenario's departments, 1-15 ms late.)
user root;
worker_processes 1;
pid {WORK}/backend/nginx.pid;
error_log {WORK}/backend/error.log warn;
worker_rlimit_nofile 20000;
events {{ worker_connections 16384; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  client_body_temp_path {WORK}/backend/tmp;
  server {{
    listen 127.0.0.1:18081 backlog=4096 reuseport;
    default_type application/json;
    location / {{ return 200 "{BODY}\\n"; }}
{ov_locs}
  }}
}}
""")

# ---------------------------------------------------------------- onestop
GATEWAY = """
[listeners]
public = "127.0.0.1:18080"
control = "127.0.0.1:18051"
admin = "127.0.0.1:18090"

[proxy]
threads = 1
grace_period = "1s"
upstream_idle_timeout = "300s"

[defaults]
connect_timeout = "1s"
timeout = "15s"
retries = 0

[limits]
# Every load generator connects from 127.0.0.1: the idle scenario holds
# 10,000 connections from that one address (the default allows 1,000).
max_connections = 19000
max_connections_per_addr = 19000
"""

# BENCH_NOSTEAL=1: the listener's threads each on their own runtime.
if os.environ.get("BENCH_NOSTEAL") == "1":
    GATEWAY = GATEWAY.replace('upstream_idle_timeout = "300s"\n', 'upstream_idle_timeout = "300s"\nwork_stealing = false\n')
# A load generator ends a run by closing its connections with requests in
# flight; onestop counts those as upstream failures (PERFORMANCE.md), and its
# default outlier settings (3 in a row) would then eject the only instance.
# nginx and HAProxy do not count client aborts against a server.
OUTLIER = 'outlier = { consecutive_failures = 1000000 }'


BENCH_DEPT = f"""
[department]
id = "bench"
name = "bench"
max_concurrency = 100000

[[services]]
id = "http"
protocol = "http"
instances = [{{ addr = "{BACKEND}" }}]
{OUTLIER}

[[services]]
id = "grpc"
protocol = "grpc"
instances = [{{ addr = "{GRPC}" }}]
{OUTLIER}

[[routes]]
id = "echo"
prefix = "/api/v1/depts/bench/echo"
methods = ["GET"]
service = "http"

[[routes]]
id = "cached"
path = "/api/v1/depts/bench/cached"
methods = ["GET"]
service = "http"
cache = {{ ttl = "600s", override_upstream = true }}

[[routes]]
id = "licence"
path = "{GRPC_PATH}"
methods = ["POST"]
service = "grpc"
"""

NUM_DEPTS = 100
OVERVIEW_DEPTS = 30


def onestop_routes():
    per = {}
    for i, (kind, path) in enumerate(route_paths(ROUTES)):
        d = i % NUM_DEPTS
        key = "path" if kind == "exact" else "prefix"
        per.setdefault(d, []).append(
            f'[[routes]]\nid = "r{i}"\n{key} = "{path}"\nmethods = ["GET"]\nservice = "http"\n')
    for d, routes in per.items():
        head = (f'[department]\nid = "r{d}"\nname = "r{d}"\nmax_concurrency = 100000\n\n'
                f'[[services]]\nid = "http"\nprotocol = "http"\n'
                f'instances = [{{ addr = "{BACKEND}" }}]\n{OUTLIER}\n\n')
        w(f"onestop/routes/departments/r{d}.toml", head + "\n".join(routes))


w("onestop/base/onestop.toml", GATEWAY)
w("onestop/base/departments/bench.toml", BENCH_DEPT)
w("onestop/routes/onestop.toml", GATEWAY)
w("onestop/routes/departments/bench.toml", BENCH_DEPT)
onestop_routes()

# The dev identity of the secured and overview gateways (run.sh writes
# the key) and their departments: one citizen route under `prefix`.
IDENTITY = """
[[identity.issuers]]
id = "bench-idp"
issuer = "https://idp.bench.example"
audiences = ["onestop"]
algorithms = ["EdDSA"]

[identity.dev_key]
issuer = "bench-idp"
private_key_file = "keys/dev-ed25519.pem"
kid = "bench-1"
"""


def citizen_dept(dept, extra, route, prefix):
    return f"""
[department]
id = "{dept}"
name = "{dept}"
max_concurrency = 100000
{extra}
[[services]]
id = "http"
protocol = "http"
instances = [{{ addr = "{BACKEND}" }}]
{OUTLIER}

[[routes]]
id = "{route}"
template = "{prefix}{{citizen}}"
citizen_param = "citizen"
auth = "citizen"
methods = ["GET"]
service = "http"
"""


# The secured path (issue 19): a second onestop on 18087 whose one route
# takes every check a citizen's call to a department pays — the channel's
# app key, the citizen's JWT (dev key, EdDSA), BOLA (the path's citizen
# must be the token's), a per-citizen rate limit (local GCRA, never
# reached), the request signature to the department, the access-log line.
# run.sh mints the token (`onestop token citizen`) after writing the key.
SECURE_CITIZEN = "510107199812256839"
SECURE_APP_KEY = "bench-app-key-0123456789abcdef0123456789abcdef"
import hashlib
w("onestop/secure/onestop.toml", GATEWAY.replace("18080", "18087").replace("18051", "18052").replace("18090", "18091") + f"""
[signing]
key_file = "keys/signing.key"

[rate_limits]
per_citizen = {{ per_second = 100000000, burst = 100000000 }}

[[channels]]
id = "bench-app"
name = "bench app"
key_sha256 = "{hashlib.sha256(SECURE_APP_KEY.encode()).hexdigest()}"
routes = ["*"]
""" + IDENTITY)
w("onestop/secure/keys/signing.key", hashlib.sha256(b"bench signing master").hexdigest() * 2 + "\n")
w("onestop/secure/departments/sec.toml", citizen_dept("sec", "", "account", "/api/v1/depts/sec/accounts/"))
w("load/secure.txt", f"/api/v1/depts/sec/accounts/{SECURE_CITIZEN}\n{SECURE_CITIZEN}\n{SECURE_APP_KEY}\n")

# The citizen overview: 30 departments with an overview item each (the
# backend answers department i after ov_delay_ms(i)), a dev identity key.
if LOAD_ECHO:
    w("onestop/overview/onestop.toml", GATEWAY + IDENTITY)
    for i in range(OVERVIEW_DEPTS):
        w(f"onestop/overview/departments/ov{i}.toml", citizen_dept(
            f"ov{i}", f'overview = {{ path = "/api/v1/depts/ov{i}/summary/me", timeout = "2s" }}\n',
            "summary", f"/api/v1/depts/ov{i}/summary/"))
    w("load/overview-slowest.txt", f"/api/v1/depts/ov{OVERVIEW_DEPTS - 1}/summary/x\n")


# ---------------------------------------------------------------- nginx
def nginx_conf(name, extra_locations):
    return f"""
user root;
worker_processes 1;
pid {WORK}/nginx/{name}.pid;
error_log {WORK}/nginx/error.log warn;
worker_rlimit_nofile 20000;
events {{ worker_connections 16384; }}
http {{
  # One JSON line per request into a file, as onestop writes one to stderr
  # (which run.sh sends to a file) and HAProxy to stdout (also a file).
  log_format json escape=json '{{"ts":"$time_iso8601","method":"$request_method",'
    '"path":"$uri","status":$status,"bytes":$body_bytes_sent,'
    '"duration_ms":$request_time,"upstream":"$upstream_addr",'
    '"request_id":"$request_id","cache":"$upstream_cache_status"}}';
  access_log {WORK}/nginx/access.log json;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  client_body_temp_path {WORK}/nginx/tmp/body;
  proxy_temp_path {WORK}/nginx/tmp/proxy;
  proxy_cache_path {WORK}/nginx/cache levels=1:2 keys_zone=bench:16m max_size=256m inactive=10m use_temp_path=off;
  upstream backend {{ server {BACKEND}; keepalive 128; keepalive_requests 1000000; keepalive_timeout 300s; }}
  upstream grpc_backend {{ server {GRPC}; keepalive 128; keepalive_requests 1000000; keepalive_timeout 300s; }}
  server {{
    listen 127.0.0.1:18082 backlog=4096;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header X-Request-Id $request_id;
    proxy_set_header X-Forwarded-For $remote_addr;
    proxy_set_header X-Forwarded-Proto $scheme;
    location ^~ /api/v1/depts/bench/echo {{ proxy_pass http://backend; }}
    location = /api/v1/depts/bench/cached {{
      proxy_pass http://backend;
      proxy_cache bench;
      proxy_cache_valid 200 600s;
      proxy_cache_lock on;
      add_header x-cache $upstream_cache_status;
    }}
{extra_locations}
    location / {{ return 404; }}
  }}
  server {{
    listen 127.0.0.1:18083 http2 backlog=4096;
    location = {GRPC_PATH} {{ grpc_pass grpc://grpc_backend; }}
    location / {{ return 404; }}
  }}
}}
"""


locs = []
for kind, path in route_paths(ROUTES):
    if kind == "exact":
        locs.append(f"    location = {path} {{ proxy_pass http://backend; }}")
    else:
        locs.append(f"    location ^~ {path} {{ proxy_pass http://backend; }}")
w("nginx/base.conf", nginx_conf("base", ""))
w("nginx/routes.conf", nginx_conf("routes", "\n".join(locs)))
os.makedirs(os.path.join(WORK, "nginx/tmp"), exist_ok=True)
os.makedirs(os.path.join(WORK, "nginx/cache"), exist_ok=True)

# ---------------------------------------------------------------- HAProxy
def haproxy_conf(with_routes):
    routes = ""
    if with_routes:
        routes = f"""
  # The route table: exact paths in a map (tree lookup), prefixes by map_beg.
  http-request set-var(txn.route) path,map_str({WORK}/haproxy/exact.map) if {{ path_beg /api/v1/depts/r }}
  http-request set-var(txn.route) path,map_beg({WORK}/haproxy/prefix.map) if {{ path_beg /api/v1/depts/r }} !{{ var(txn.route) -m found }}
  use_backend backend if {{ var(txn.route) -m found }}
"""
    return f"""
global
  nbthread 1
  # HAProxy wants 2 descriptors per connection (client + server side) and
  # the container's hard limit is 20,000: at most 9,990 connections, so the
  # idle scenario opens 9,900 against HAProxy (10,000 against the others).
  ulimit-n 20000
  maxconn 9990
  tune.bufsize 16384
defaults
  mode http
  timeout connect 1s
  timeout client 300s
  timeout server 15s
  timeout http-keep-alive 300s
  option http-keep-alive
  http-reuse always
  # One line per request to stdout (run.sh sends it to a file), like onestop.
  log stdout format raw local0 info
  log-format '{{"ts":"%t","method":"%HM","path":"%HP","status":%ST,"bytes":%B,"duration_ms":%Ta,"upstream":"%si:%sp","request_id":"%ID"}}'
  unique-id-format %{{+X}}o%ci:%cp_%fi:%fp_%Ts_%rt:%pid
  unique-id-header X-Request-Id
cache bench
  total-max-size 16
  max-object-size 65536
  max-age 600
frontend http
  bind 127.0.0.1:18084 backlog 4096
  option forwardfor
  http-request set-header X-Forwarded-Proto http
{routes}
  use_backend cached if {{ path /api/v1/depts/bench/cached }}
  use_backend backend if {{ path_beg /api/v1/depts/bench/echo }}
  default_backend notfound
frontend grpc
  bind 127.0.0.1:18085 proto h2 backlog 4096
  use_backend grpc if {{ path {GRPC_PATH} }}
  default_backend notfound
backend notfound
  http-request return status 404
backend backend
  server b1 {BACKEND} maxconn 1000
backend cached
  http-request cache-use bench
  # like onestop's override_upstream and nginx's proxy_cache_valid: 600 s
  http-response set-header cache-control "max-age=600"
  http-response cache-store bench
  server b1 {BACKEND} maxconn 1000
backend grpc
  server g1 {GRPC} proto h2 maxconn 1000
"""


w("haproxy/base.cfg", haproxy_conf(False))
w("haproxy/routes.cfg", haproxy_conf(True))
exact = [p for k, p in route_paths(ROUTES) if k == "exact"]
prefix = [p for k, p in route_paths(ROUTES) if k == "prefix"]
w("haproxy/exact.map", "".join(f"{p} r\n" for p in exact))
w("haproxy/prefix.map", "".join(f"{p} r\n" for p in prefix))

# ---------------------------------------------------------------- load
# Request paths for the route-table scenario: every route once, shuffled
# deterministically (prefix routes get a tail under the prefix).
import random
rnd = random.Random(9)
paths = [p if k == "exact" else p + "x" for k, p in route_paths(ROUTES)]
rnd.shuffle(paths)
w("load/paths.txt", "\n".join(paths) + "\n")

# The gRPC request: GetLicenceRequest{citizen_id} framed (0, u32 length, message).
import json
with open(os.path.join(WORK, "sim/manifest.json")) as f:
    citizen = json.load(f)["citizens"][0]["id"].encode()
msg = bytes([0x0A, len(citizen)]) + citizen
frame = b"\x00" + len(msg).to_bytes(4, "big") + msg
with open(os.path.join(WORK, "load/grpc-licence.bin"), "wb") as f:
    f.write(frame)
