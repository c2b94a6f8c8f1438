# bench/load.sh — the save → output row under load, sourced by bench/run (uses its helpers:
# lat_one, tl, say, row, pctl, median, div, fmt, ok, order, and $tmp, $LAT_ROUNDS,
# $LUA_LAT). Not run on its own.
#
# Three `nice -n 19` busy loops share the machine's cores with forkmon and the floor
# (bench/floor.c) while both are timed in the same rounds, interleaved: the row is the
# ratio of their p50s. The loops are started here, each in its own process group (its
# cwd is $tmp: strays() finds it too), and ended by pid.

LOAD_PIDS=()

load_start() { # N
	local i
	for i in $(seq 1 "$1"); do
		(cd "$tmp" && exec setsid nice -n 19 sh -c 'while :; do :; done') &
		LOAD_PIDS+=($!)
	done
	sleep 0.3 # the loops are spinning before the first edit
}

load_stop() {
	local p
	for p in "${LOAD_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	for p in "${LOAD_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	LOAD_PIDS=()
}

bench_load() {
	local d=$tmp/lat r w out s fms="" fls="" rs="" n=3
	mkdir -p "$d"
	printf '%s\n' "$LUA_LAT" >"$d/main.lua"
	load_start "$n"
	for r in $(seq 1 "$LAT_ROUNDS"); do
		local -A p50=()
		for w in $(order "$r" fm floor); do
			say "latency in place/ended under $n busy loops, $w, round $r/$LAT_ROUNDS"
			out=$(lat_one "$w" inplace ended)
			s=$(awk '/^samples_ms/{$1=""; print}' <<<"$out")
			[ "$w" = fm ] && fms+="$s " || fls+="$s "
			p50[$w]=$(tr ' ' '\n' <<<"$s" | grep . | pctl 50)
		done
		rs+="$(div "${p50[fm]}" "${p50[floor]}") "
	done
	load_stop
	local fp50 p50 p90 rm
	fp50=$(tr ' ' '\n' <<<"$fls" | grep . | pctl 50)
	p50=$(tr ' ' '\n' <<<"$fms" | grep . | pctl 50)
	p90=$(tr ' ' '\n' <<<"$fms" | grep . | pctl 90)
	rm=$(tr ' ' '\n' <<<"$rs" | grep . | median)
	row "save → resumed output, in place, program ended, under $n \`nice -n 19\` busy loops (n=$(tr ' ' '\n' <<<"$fms" | grep -c . || true))" \
		"**p50 $(fmt "$p50" 1) ms, p90 $(fmt "$p90" 1) ms** ($(fmt "$rm" 1)× the floor under the same load: p50 $(fmt "$fp50" 1) ms)" \
		"≤ 2× the floor under the same load" "-" "$(ok "$rm" '<=' 2.0)"
}
