#!/usr/bin/env bash
# Makes sure the services the tests need are there.
#  - RabbitMQ and PostgreSQL: started when installed but stopped.
#  - Debian's openssh-server (a real SFTP peer), prometheus (promtool, a real scraper),
#    chromium and fonts-wqy-microhei (the workbench's browser tests):
#    installed when missing and we may (root with apt-get).
# Under CI=true anything still missing is a loud failure; otherwise the affected tests skip
# and say why.
set -uo pipefail
missing=()
say() { echo "ensure-services: $*"; }

wait_for() { # wait_for SECONDS CMD...
  local n=$1; shift
  for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  return 1
}

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432; }
if command -v pg_isready >/dev/null; then
  if ! pg_up; then
    if ls /etc/postgresql >/dev/null 2>&1; then
      say "starting PostgreSQL"
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
      wait_for 30 pg_up || missing+=("PostgreSQL (installed but would not start)")
    else
      missing+=("PostgreSQL (not installed)")
    fi
  fi
else
  missing+=("PostgreSQL (not installed)")
fi

rabbit_up() { rabbitmq-diagnostics -q check_port_connectivity >/dev/null 2>&1; }
if command -v rabbitmqctl >/dev/null; then
  if ! rabbit_up; then
    say "starting RabbitMQ"
    rabbitmq-server -detached || true
    rabbitmqctl -q await_startup --timeout 60 >/dev/null 2>&1 || true
    wait_for 60 rabbit_up || missing+=("RabbitMQ (installed but would not start)")
  fi
else
  missing+=("RabbitMQ (not installed)")
fi
# The three-node cluster scenario (tests/support/rabbit_cluster.py) starts its own nodes from the
# same package's scripts, never the machine's broker.
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing+=("rabbitmq-server scripts in /usr/lib/rabbitmq/bin")

need_pkgs=()
[ -x /usr/sbin/sshd ] || need_pkgs+=(openssh-server)
command -v promtool >/dev/null || need_pkgs+=(prometheus)
# The workbench's browser tests: Debian's chromium (never a downloaded browser) and a CJK font.
[ -x /usr/bin/chromium ] || need_pkgs+=(chromium)
[ -d /usr/share/fonts/truetype/wqy ] || need_pkgs+=(fonts-wqy-microhei)
# The village terminal's lossy-link tests (iproute2: netns, veth, tc tbf; nftables: random loss)
# and its scanner (sane-utils: scanimage with SANE's own `test` backend).
command -v ip >/dev/null || need_pkgs+=(iproute2)
command -v nft >/dev/null || need_pkgs+=(nftables)
command -v scanimage >/dev/null || need_pkgs+=(sane-utils)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing ${need_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null 2>&1 || true
  fi
  [ -x /usr/sbin/sshd ] || missing+=("openssh-server (sshd)")
  command -v promtool >/dev/null || missing+=("prometheus (promtool)")
  [ -x /usr/bin/chromium ] || missing+=("chromium (browser tests)")
  [ -d /usr/share/fonts/truetype/wqy ] || missing+=("fonts-wqy-microhei (Chinese text in screenshots)")
  command -v ip >/dev/null || missing+=("iproute2 (ip netns, tc: the terminal's lossy-link tests)")
  command -v nft >/dev/null || missing+=("nftables (nft: packet loss in the terminal's link tests)")
  command -v scanimage >/dev/null || missing+=("sane-utils (scanimage: the terminal's scanner)")
fi
# The Debian prometheus package starts a server on :9090 we do not need; tests run their own.

if [ ${#missing[@]} -gt 0 ]; then
  for m in "${missing[@]}"; do say "MISSING: $m"; done
  if [ "${CI:-}" = "true" ]; then
    say "CI=true and a needed service is missing: failing."
    exit 1
  fi
  say "tests that need the missing services will be skipped, each saying why."
fi
say "ok"
