# Sourced by bench/side-by-side for its `s2s` scenario (not run on its own):
# chat messages across server-to-server between Waxwing, Prosody and
# ejabberd, and a second Waxwing (not with --peers-only).
#
# The servers federate the way tests/python/peers.py sets them up, without
# importing it: each server has a loopback address of its own
# ($BENCH_S2S_NET followed by 1..4, default 127.0.0.71..74), c2s on 5222 and
# s2s on 5269 of it (Prosody dials 5269 when a domain has no SRV record:
# only an address of its own gives each server its own s2s port). Names come
# from one hosts file: Prosody reads it through lua-unbound (`hoststxt`, a
# static root zone: SRV lookups answer NXDOMAIN without a packet sent),
# ejabberd gets an ERL_INETRC without a nameserver and one SRV record per
# name primed into inet_db's cache (target an address literal), Waxwing gets
# `[s2s] routes`. Certificates are self-signed, one per domain: the servers
# authenticate each other by dialback (XEP-0220) over STARTTLS.
#
# Uses from bench/side-by-side: root tmp pids log waxwing_bin bench_bin
# password users peers_only runs size bare args_s2s args_s2s_paced.

net=${BENCH_S2S_NET:-127.0.0.7}
c2s_port=5222
s2s_port=5269
# name domain address
s2s_servers=("waxwing waxwing.test ${net}1" "waxwing2 waxwing2.test ${net}2"
    "prosody prosody.test ${net}3" "ejabberd ejabberd.test ${net}4")
[ "$peers_only" = 1 ] && s2s_servers=("${s2s_servers[@]:2}")
declare -A s2s_domain s2s_addr s2s_pid
for s in "${s2s_servers[@]}"; do
    read -r name domain addr <<<"$s"
    s2s_domain[$name]=$domain
    s2s_addr[$name]=$addr
done

taken() { # address port
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}
for s in "${s2s_servers[@]}"; do
    read -r name domain addr <<<"$s"
    for port in $c2s_port $s2s_port; do
        if taken "$addr" "$port"; then
            echo "error: $addr:$port is taken (a server left over?); BENCH_S2S_NET=127.0.0.8 moves the addresses" >&2
            ss -Hltnp "sport = :$port" >&2 || true
            exit 1
        fi
    done
done
if [ "$(id -u)" != 0 ] && [ "$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)" -gt $c2s_port ]; then
    echo "error: ports $c2s_port and $s2s_port need root (or net.ipv4.ip_unprivileged_port_start <= $c2s_port)" >&2
    exit 1
fi

wait_listening() { # name pid log
    local name=$1 pid=$2 port i
    for port in $c2s_port $s2s_port; do
        for i in $(seq 600); do
            taken "${s2s_addr[$name]}" "$port" && break
            if ! kill -0 "$pid" 2>/dev/null; then
                echo "error: $name exited before listening; its log:" >&2
                tail -30 "$3" >&2 || true
                exit 1
            fi
            [ "$i" = 600 ] && { echo "error: $name is not listening on ${s2s_addr[$name]}:$port after 60 s" >&2; exit 1; }
            sleep 0.1
        done
    done
}

# ------------------------------------------------------------------ names and certificates
hosts=$tmp/hosts
{
    echo "# written by bench/s2s.sh"
    for s in "${s2s_servers[@]}"; do
        read -r name domain addr <<<"$s"
        echo "$addr $domain"
    done
} >"$hosts"
: >"$tmp/ca.pem"
for s in "${s2s_servers[@]}"; do
    read -r name domain addr <<<"$s"
    mkdir -p "$tmp/$name/tls"
    # Server and client certificate (an s2s initiator presents it as a client).
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 \
        -subj "/CN=$domain" -addext "subjectAltName=DNS:$domain" \
        -addext "basicConstraints=critical,CA:FALSE" -addext keyUsage=critical,digitalSignature \
        -addext extendedKeyUsage=serverAuth,clientAuth \
        -keyout "$tmp/$name/tls/$domain.key" -out "$tmp/$name/tls/$domain.crt" 2>/dev/null
    cat "$tmp/$name/tls/$domain.crt" >>"$tmp/ca.pem"
done

# ------------------------------------------------------------------ servers
start_waxwing_s2s() { # name
    local name=$1 d=$tmp/$1 domain=${s2s_domain[$1]} addr=${s2s_addr[$1]} routes="" other
    for other in "${!s2s_domain[@]}"; do
        [ "$other" = "$name" ] && continue
        routes+="${routes:+, }\"${s2s_domain[$other]}\" = \"${s2s_addr[$other]}:$s2s_port\""
    done
    mkdir -p "$d/data"
    cat >"$d/waxwing.toml" <<TOML
# Written by bench/s2s.sh: $domain on $addr, s2s on $s2s_port.
[server]
data_dir = "$d/data"
log_level = "${S2S_LOG_LEVEL:-info}"
plugin_cache_dir = "$root/target/plugin-cache"

[listen]
c2s = ["$addr:$c2s_port"]
c2s_direct_tls = []
s2s = ["$addr:$s2s_port"]
http = []
https = []
metrics = []

[s2s]
# The other servers, instead of DNS SRV; their certificates are self-signed:
# dialback.
routes = { $routes }

[[vhost]]
domain = "$domain"
cert = "$d/tls/$domain.crt"
key = "$d/tls/$domain.key"
TOML
    for i in $(seq "$users"); do echo "bench$i@$domain $password"; done |
        "$waxwing_bin" --config "$d/waxwing.toml" user add --file - >/dev/null
    "$waxwing_bin" --config "$d/waxwing.toml" serve >>"$d/waxwing.log" 2>&1 &
    s2s_pid[$name]=$!
    pids+=("$!")
    wait_listening "$name" "$!" "$d/waxwing.log"
}

start_prosody_s2s() {
    local d=$tmp/prosody domain=${s2s_domain[prosody]} addr=${s2s_addr[prosody]}
    # Prosody's data dir names a host with its dots escaped.
    local accounts=$d/data/${domain//./%2e}/accounts
    mkdir -p "$accounts"
    local ssl="certificate = \"$d/tls/$domain.crt\"; key = \"$d/tls/$domain.key\";"
    cat >"$d/prosody.cfg.lua" <<LUA
-- Written by bench/s2s.sh: $domain on $addr, s2s on $s2s_port. No rate
-- limits (mod_limits is not loaded), no archiving, TLS required.
run_as_root = true
pidfile = "$d/prosody.pid"
data_path = "$d/data"
log = { info = "$d/prosody.log" }
interfaces = { "$addr" }
c2s_ports = { $c2s_port }
c2s_direct_tls_ports = { }
s2s_ports = { $s2s_port }
s2s_direct_tls_ports = { }
component_ports = { }
http_ports = { }
https_ports = { }
modules_enabled = { "roster", "saslauth", "tls", "dialback", "disco", "ping" }
modules_disabled = { "offline" }
authentication = "internal_hashed"
storage = "internal"
c2s_require_encryption = true
-- STARTTLS on every s2s stream; self-signed certificates fall back to dialback.
s2s_require_encryption = true
s2s_secure_auth = false
ssl = { $ssl }
certificates = "$d/tls"
-- Names from the hosts file, never from DNS: A/AAAA from the file, NXDOMAIN
-- for everything else (SRV), with no query sent anywhere.
unbound = {
    hoststxt = "$hosts";
    resolvconf = false;
    options = { ["local-zone"] = ". static" };
}

VirtualHost "$domain"
    ssl = { $ssl }
LUA
    # Accounts in mod_auth_internal_hashed's format, as bench/side-by-side writes them.
    python3 - "$accounts" "$users" "$password" <<'PY'
import hashlib, hmac, sys, uuid
out, n, password = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
for i in range(1, n + 1):
    salt = str(uuid.uuid4())
    salted = hashlib.pbkdf2_hmac("sha1", password, salt.encode(), 4096)
    client_key = hmac.new(salted, b"Client Key", "sha1").digest()
    stored_key = hashlib.sha1(client_key).hexdigest()
    server_key = hmac.new(salted, b"Server Key", "sha1").hexdigest()
    with open(f"{out}/bench{i}.dat", "w") as f:
        f.write('return {\n\t["iteration_count"] = 4096;\n\t["salt"] = "%s";\n'
                '\t["stored_key"] = "%s";\n\t["server_key"] = "%s";\n};\n' % (salt, stored_key, server_key))
PY
    prosody --config "$d/prosody.cfg.lua" -F >>"$d/stdout.log" 2>&1 &
    s2s_pid[prosody]=$!
    pids+=("$!")
    wait_listening prosody "$!" "$d/prosody.log"
}

start_ejabberd_s2s() {
    local d=$tmp/ejabberd domain=${s2s_domain[ejabberd]} addr=${s2s_addr[ejabberd]}
    mkdir -p "$d/db" "$d/logs"
    cat "$d/tls/$domain.crt" "$d/tls/$domain.key" >"$d/tls/bundle.pem"
    cat >"$d/ejabberd.yml" <<YML
# Written by bench/s2s.sh: $domain on $addr, s2s on $s2s_port. No shapers or
# rate limits, no archiving, TLS required.
hosts: ["$domain"]
loglevel: info
certfiles: ["$d/tls/bundle.pem"]
auth_method: internal
auth_password_format: scram
auth_scram_hash: sha256
registration_timeout: infinity
shaper: {}
shaper_rules: {}
access_rules:
  register:
    allow: all
s2s_use_starttls: required
s2s_dns_timeout: 3
s2s_dns_retries: 1
s2s_max_retry_delay: 5
outgoing_s2s_families: [ipv4]
outgoing_s2s_ipv4_address: "$addr"
outgoing_s2s_port: $s2s_port
outgoing_s2s_timeout: 10
listen:
  -
    port: $c2s_port
    ip: "$addr"
    module: ejabberd_c2s
    backlog: 1024
    starttls_required: true
    max_stanza_size: 262144
    shaper: none
  -
    port: $s2s_port
    ip: "$addr"
    module: ejabberd_s2s_in
    shaper: none
modules:
  mod_disco: {}
  mod_ping: {}
  mod_roster: {}
  mod_register:
    access: register
    ip_access: all
  mod_s2s_dialback: {}
YML
    # No nameserver: an SRV name not primed below fails at once; A records
    # from the hosts file.
    cat >"$d/inetrc" <<ERL
{hosts_file, "$hosts"}.
{lookup, [file]}.
{resolv_conf, ""}.
{host, {127,0,0,1}, ["localhost"]}.
ERL
    # An _xmpp-server._tcp SRV record per name of the hosts file, its target
    # the address literally (no A lookup), in inet_db's cache: ejabberd
    # 23.01 (p1_xmpp 1.6.1) looks SRV up with inet_res, which answers from it.
    local pairs="" other
    for other in "${!s2s_domain[@]}"; do
        pairs+="${pairs:+, }{\"${s2s_domain[$other]}\", \"${s2s_addr[$other]}\"}"
    done
    local srv="[ok = inet_db:add_rr(\"_xmpp-server._tcp.\" ++ N, in, srv, 604800, {0, 0, $s2s_port, A}) || {N, A} <- [$pairs]]."
    # Without ejabberdctl and without a node name (no epmd), as bench/side-by-side.
    local erl_libs
    erl_libs=$(sed -n "s/^ERL_LIBS='\(.*\)'$/\1/p" "$(command -v ejabberdctl || echo /usr/sbin/ejabberdctl)")
    ERL_LIBS=${erl_libs:-/usr/lib/x86_64-linux-gnu} EJABBERD_CONFIG_PATH="$d/ejabberd.yml" \
        EJABBERD_LOG_PATH="$d/logs/ejabberd.log" ERL_CRASH_DUMP="$d/logs/erl_crash.dump" HOME="$d" \
        ERL_INETRC="$d/inetrc" ERL_FLAGS="" ERL_AFLAGS="" ERL_ZFLAGS="" \
        erl +K true -noinput -mnesia dir "\"$d/db\"" -eval "$srv" -s ejabberd >>"$d/stdout.log" 2>&1 &
    s2s_pid[ejabberd]=$!
    pids+=("$!")
    wait_listening ejabberd "$!" "$d/logs/ejabberd.log"
    [ "$(cat "/proc/${s2s_pid[ejabberd]}/comm" 2>/dev/null)" = beam.smp ] ||
        log "warning: pid ${s2s_pid[ejabberd]} is $(cat "/proc/${s2s_pid[ejabberd]}/comm" 2>/dev/null), not beam.smp"
    "$bench_bin" register --server "$addr:$c2s_port" --domain "$domain" --ca "$tmp/ca.pem" --users "$users" \
        --password "$password" --label ejabberd >"$d/register.txt"
}

for s in "${s2s_servers[@]}"; do
    read -r name domain addr <<<"$s"
    t0=$SECONDS
    case $name in
        waxwing*) start_waxwing_s2s "$name" ;;
        prosody) start_prosody_s2s ;;
        ejabberd) start_ejabberd_s2s ;;
    esac
    log "$name: $domain on $addr (c2s $c2s_port, s2s $s2s_port), $users accounts, up in $((SECONDS - t0)) s"
done

# ------------------------------------------------------------------ runs
# Each direction, sender's server first; Waxwing to Waxwing one way only.
if [ "$peers_only" = 1 ]; then
    directions=("prosody ejabberd" "ejabberd prosody")
else
    directions=("waxwing prosody" "prosody waxwing" "waxwing ejabberd" "ejabberd waxwing"
        "prosody ejabberd" "ejabberd prosody" "waxwing waxwing2")
fi
results=$tmp/results.jsonl
: >"$results"
run_s2s() { # run-number as-name from to args...
    local n=$1 as=$2 from=$3 to=$4
    shift 4
    local out=$tmp/$as-$from-$to-$n.txt
    log "$as $from -> $to (run $n of $runs)"
    if timeout 600 "$bench_bin" s2s --server "${s2s_addr[$from]}:$c2s_port" --domain "${s2s_domain[$from]}" \
        --pid "${s2s_pid[$from]}" --label "$from" --to-server "${s2s_addr[$to]}:$c2s_port" \
        --to-domain "${s2s_domain[$to]}" --to-pid "${s2s_pid[$to]}" --to-label "$to" --ca "$tmp/ca.pem" \
        --users "$users" --password "$password" "${bare[@]}" "$@" >"$out" 2>"$out.err"; then
        grep -v '^{' "$out" >&2 || true
    else
        local rc=$? err
        grep -v '^{' "$out" >&2 || true
        err=$(grep -v '^note:' "$out.err" | tail -1)
        [ -n "$err" ] || err="exited with status $rc (124: killed after 600 s)"
        python3 -c 'import json, sys; print(json.dumps({"scenario": sys.argv[1], "server": sys.argv[2], "failed": True, "error": sys.argv[3]}))' \
            "$as" "$from->$to" "$err" >>"$out"
        log "$as $from -> $to failed: $err"
    fi
    grep '^note:' "$out.err" >&2 || true
    grep '^{' "$out" | sed "s/^{/{\"run\": $n, /" >>"$results" || true
}
for n in $(seq "$runs"); do
    for dir in "${directions[@]}"; do
        read -r from to <<<"$dir"
        run_s2s "$n" s2s "$from" "$to" "${args_s2s[@]}"
        run_s2s "$n" s2s_paced "$from" "$to" "${args_s2s_paced[@]}"
    done
done

# ------------------------------------------------------------------ the table
python3 - "$results" "$size" "$runs" "${args_s2s[*]}" "${args_s2s_paced[*]}" "${bare[*]:-}" <<'PY'
import json, statistics, sys
path, size, runs, sat, paced, bare = sys.argv[1:7]
rows = [json.loads(l) for l in open(path) if l.strip()]
order = []
for r in rows:
    if r["server"] not in order:
        order.append(r["server"])

def med(sc, server, key):
    vals = [r[key] for r in rows if r["scenario"] == sc and r["server"] == server
            and not r.get("failed") and isinstance(r.get(key), (int, float))]
    if not vals:
        return "-"
    v = statistics.median(vals)
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.1f}" if v != int(v) else f"{v:.0f}"

def failures(sc, server):
    return sum(1 for r in rows if r["scenario"] == sc and r["server"] == server and r.get("failed"))

print()
to = "bare" if bare else "full"
print(f"s2s across server-to-server ({size}; messages to the receivers' {to} JIDs; median of {runs} runs;"
      " figures from a shared machine are noisy)")
print(f"saturated ({sat}):")
cols = [("msg/s", "messages_per_s"), ("p50 µs", "latency_p50_us"), ("p99 µs", "latency_p99_us"),
        ("lost", "lost"), ("bounced", "bounced"), ("sender µs/msg", "sender_cpu_us_per_message"),
        ("receiver µs/msg", "receiver_cpu_us_per_message"), ("sum µs/msg", "server_cpu_us_per_message")]
def table(sc, cols):
    print(f"  {'from -> to':<22}" + "".join(f"{h:>16}" for h, _ in cols))
    for server in order:
        if not any(r["scenario"] == sc and r["server"] == server for r in rows):
            continue
        f = failures(sc, server)
        note = f"   ({f} failed)" if f else ""
        print(f"  {server.replace('->', ' -> '):<22}" + "".join(f"{med(sc, server, k):>16}" for _, k in cols) + note)
table("s2s", cols)
print(f"paced ({paced}):")
table("s2s_paced", [("p50 µs", "latency_p50_us"), ("p99 µs", "latency_p99_us"), ("lost", "lost"),
                    ("sender µs/msg", "sender_cpu_us_per_message"),
                    ("receiver µs/msg", "receiver_cpu_us_per_message"), ("sum µs/msg", "server_cpu_us_per_message")])
errors = {(r["scenario"], r["server"], r.get("error", "")) for r in rows if r.get("failed")}
for sc, server, err in sorted(errors):
    print(f"failed: {sc} {server}: {err}")
print("CPU per message: the server's CPU time over the measured phase (first send to last delivery) over the messages delivered;")
print("sender: the server the senders are logged in to; receiver: the receivers' server; sum: both.")
PY
echo "JSON lines, one per run, scenario and direction:" >&2
cat "$results"
