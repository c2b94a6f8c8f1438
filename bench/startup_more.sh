# bench/startup_more.sh — more rows of bench/run's start-up section, sourced by it (uses
# its helpers: tl, say, median, fmt, div, ok, order, row, make_modules, and $tmp, $log, $BB,
# $FM, $GAP, $R_START, $quick). Not run on its own.

# Start-up with 120 modules of 1 ms of work each (a busy loop on os.clock()): what the
# checkpoints cost when there is work to space them by. Called at the end of bench_startup.
bench_startup_work() {
	local n=120 d=$tmp/startwork r v out i
	make_modules "$d" "$n"
	for i in $(seq 1 "$n"); do
		printf 'local t = os.clock()\nwhile os.clock() - t < 0.001 do end\n' | cat - "$d/m$i.lua" >"$d/m$i.tmp"
		mv "$d/m$i.tmp" "$d/m$i.lua"
	done
	local ms_plain="" ms_fm="" rs=""
	for r in $(seq 1 "$R_START"); do
		say "start-up with $n modules of 1 ms work, round $r/$R_START"
		local tp tf
		for v in $(order "$r" plain default); do
			case $v in
			plain) out=$(cd "$d" && tl 120 "$BB/fmbench" startup --log "$log/start" -- lua5.4 main.lua) || true
				tp=$(awk '/^ms/{print $2}' <<<"$out") ;;
			default) out=$(cd "$d" && tl 120 "$BB/fmbench" startup --log "$log/start" -- "$FM" run -f '%.lua$' -- lua5.4 main.lua) || true
				tf=$(awk '/^ms/{print $2}' <<<"$out") ;;
			esac
		done
		ms_plain+="$tp " ms_fm+="$tf " rs+="$(div "$tf" "$tp") "
	done
	local cks pm fm rm
	cks=$(cd "$d" && tl 120 "$BB/fmbench" startup --pss --log "$log/start" -- "$FM" run -q -f '%.lua$' -- lua5.4 main.lua | awk '/^pss_kb/{print $4-2}') || true
	pm=$(tr ' ' '\n' <<<"$ms_plain" | grep . | median)
	fm=$(tr ' ' '\n' <<<"$ms_fm" | grep . | median)
	rm=$(tr ' ' '\n' <<<"$rs" | grep . | median)
	row "start-up, $n watched modules of 1 ms of work each, default spacing, vs plain lua5.4" \
		"**$(fmt "$rm")×** ($(fmt "$fm" 1) vs $(fmt "$pm" 1) ms; $cks checkpoints)" "≤ 1.10×" "1.37–1.40×" "$(ok "$rm" '<=' 1.10)"
}

# Resume from the first of 1000 modules (and from the last): save → the program's "done",
# against the program's own work after the first module, timed inside it (os.clock() in a
# plain run of the same program). Called at the end of bench_startup.
make_resume_modules() { # DIR N
	local d=$1 n=$2 i
	mkdir -p "$d"
	for i in $(seq 1 "$n"); do printf 'return {v = 0}\n' >"$d/m$i.lua"; done
	printf 'local t1, n = nil, 0\nfor i = 1, %d do\n\tn = n + require("m" .. i).v\n\tif i == 1 then t1 = os.clock(); io.write("mark\\n"); io.stdout:flush() end\nend\nio.write(string.format("done %%d %%.3f\\n", n, (os.clock() - t1) * 1000))\nio.stdout:flush()\n' \
		"$n" >"$d/main.lua"
}

bench_resume_first() {
	local n=1000 d=$tmp/resume r out own="" first="" last="" copy="" mark="" run1=""
	if [ ! -x "$BB/resumecost" ] || [ "$top/bench/resumecost.c" -nt "$BB/resumecost" ]; then
		cc -O2 -Wall -o "$BB/resumecost" "$top/bench/resumecost.c"
	fi
	make_resume_modules "$d" "$n"
	local rounds=3 edits=12
	[ "$quick" = 1 ] && rounds=1 edits=6
	for r in $(seq 1 "$rounds"); do
		say "resume from the first of $n modules, round $r/$rounds"
		for _ in 1 2 3; do
			own+="$(cd "$d" && tl 60 lua5.4 main.lua | awk '/^done/{print $3}') "
		done
		out=$(cd "$d" && tl 120 "$BB/resumecost" --edits "$edits" --gap "$GAP" --log "$log/resume" \
			--files m1.lua,m$n.lua -- "$FM" run -f '%.lua$' -- lua5.4 main.lua) || true
		first+="$(awk '/^file 0 /{for(i=4;i<=NF && $i!="own_ms";i++) printf "%s ", $i}' <<<"$out")"
		last+="$(awk '/^file 1 /{for(i=4;i<=NF && $i!="own_ms";i++) printf "%s ", $i}' <<<"$out")"
		# the resumed copies' own time after the module, os.clock() as in the plain run
		copy+="$(awk '/^file 0 /{for(i=4;i<=NF && $i!="own_ms";i++); for(i++;i<=NF && $i!="mark_ms";i++) printf "%s ", $i}' <<<"$out")"
		# save → the copy past that module (its "mark" line): the resume's own part
		mark+="$(awk '/^file 0 /{for(i=4;i<=NF && $i!="mark_ms";i++); for(i++;i<=NF;i++) if ($i >= 0) printf "%s ", $i}' <<<"$out")"
		# the first run's own time after the module, under forkmon (no copy): the hook's part
		run1+="$(awk '/^first_own_ms /{printf "%s ", $2}' <<<"$out")"
	done
	local om fm lm cm mm rm over
	om=$(tr ' ' '\n' <<<"$own" | grep . | median)
	fm=$(tr ' ' '\n' <<<"$first" | grep . | median)
	lm=$(tr ' ' '\n' <<<"$last" | grep . | median)
	cm=$(tr ' ' '\n' <<<"$copy" | grep . | median)
	mm=$(tr ' ' '\n' <<<"$mark" | grep . | median)
	rm=$(tr ' ' '\n' <<<"$run1" | grep . | median)
	over=$(awk -v f="$fm" -v o="$om" 'BEGIN{ if (f=="nan"||o=="nan") print "nan"; else print f-o }')
	row "resume from the first of $n modules: save → output, vs the program's own work after that module" \
		"**$(fmt "$fm" 1) ms** = own $(fmt "$om" 1) ms + $(fmt "$over" 1) ms ($(fmt "$(div "$fm" "$om")")×; the copy's own work after it: $(fmt "$cm" 1) ms, the first run's under forkmon: $(fmt "$rm" 1) ms; save → the copy past that module: $(fmt "$mm" 1) ms; from the last module: $(fmt "$lm" 1) ms)" \
		"≤ own + 3 ms" "58 ms (1000 blocking round trips)" "$(ok "$over" '<=' 3)"
}
