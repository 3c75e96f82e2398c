/**
 * The one-shot that forms the Redis Cluster, for both targets (a Docker container, a Kubernetes Job).
 * Its arguments are exactly `redisClusterCreateArgs` from the blueprint; the script adds only what a
 * container start needs around them:
 *
 * - Nodes are named, not addressed: a pod's DNS record appears only once the pod exists, a container's
 *   once it runs. Each `host:port` after `create` is resolved (`getent ahostsv4`: Docker's DNS or the
 *   headless Service's per-pod records) and the script waits until every node answers; it passes the
 *   resolved address on, because CLUSTER MEET takes IPs and only some redis-cli versions resolve
 *   names themselves. The nodes still announce their hostnames, so clients follow names, not IPs.
 * - It must be safe to run again (a replaced container, a re-run Job): nodes that already form a
 *   cluster answer "is not empty", which counts as done.
 *
 * POSIX sh and coreutils only: it runs in the Redis image itself.
 */
export const REDIS_CLUSTER_INIT_SCRIPT = [
  'set -eu',
  'n=$#',
  'i=0',
  'nodes=0',
  'while [ "$i" -lt "$n" ]; do',
  '  arg=$1',
  '  shift',
  '  i=$((i + 1))',
  '  if [ "$nodes" = 1 ]; then',
  '    case "$arg" in',
  '      --*) nodes=0 ;;',
  '      *:*)',
  '        host=${arg%:*}',
  '        port=${arg##*:}',
  '        tries=0',
  '        while :; do',
  '          ip=$(getent ahostsv4 "$host" | head -n 1 | cut -d \' \' -f 1 || true)',
  '          if [ -n "$ip" ] && redis-cli -h "$ip" -p "$port" ping 2>&1 | grep -qE \'PONG|NOAUTH\'; then break; fi',
  '          tries=$((tries + 1))',
  '          if [ "$tries" -ge 180 ]; then echo "cluster-init: $host:$port did not answer within 180 s" >&2; exit 1; fi',
  '          sleep 1',
  '        done',
  '        echo "cluster-init: $host:$port is $ip:$port"',
  '        arg="$ip:$port"',
  '        ;;',
  '    esac',
  '  fi',
  '  if [ "$arg" = create ]; then nodes=1; fi',
  '  set -- "$@" "$arg"',
  'done',
  'if out=$(redis-cli "$@" 2>&1); then',
  '  printf \'%s\\n\' "$out"',
  '  exit 0',
  'fi',
  'printf \'%s\\n\' "$out"',
  'case "$out" in',
  '  *"is not empty"*) echo "cluster-init: the nodes already form a cluster; nothing to do"; exit 0 ;;',
  'esac',
  'exit 1',
].join('\n');

/** Name the script runs under (its `$0`). */
export const REDIS_CLUSTER_INIT_NAME = 'redis-cluster-init';
