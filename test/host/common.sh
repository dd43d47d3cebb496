# Shared by the whole-daemon host tests (sourced by each group's lib.sh).
# Needs OVERLAYCTL to point at the overlayctl binary.

# wait_for_overlayd SOCKET PID: true once the daemon PID answers `status`
# on SOCKET (up to 5 s); false at once if the daemon died.
wait_for_overlayd() {
  local sock=$1 pid=$2 i
  for i in $(seq 100); do
    if [[ -S $sock ]] && "$OVERLAYCTL" --socket "$sock" status >/dev/null 2>&1; then
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# stop_overlayd SOCKET PID: asks the daemon to shut down over the IPC (it
# reverts what it created), then signals it if it is still there after 3 s,
# and reaps it.
stop_overlayd() {
  local sock=$1 pid=$2 i
  kill -0 "$pid" 2>/dev/null || return 0
  timeout 5 "$OVERLAYCTL" --socket "$sock" raw '{"op":"shutdown"}' >/dev/null 2>&1
  for i in $(seq 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null && sleep 0.5
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}
