# bench/saves_more.sh — more rows of bench/run's save section, sourced by it (uses its
# helpers: tl, say, row, and $tmp, $log, $BB, $FM, $GAP, $STYLE_EDITS, $LUA_STYLE,
# $LUA_PAIR): every single-file save style shown once with its content, and two files
# saved 3 ms apart never shown half-saved. Not run on its own.

# 20 saves (quick: 5) of each single-file style: every one shown once, with its content
bench_styles() {
	local d=$tmp/styles st out bad="" all=0 lost doubled stale
	mkdir -p "$d"
	printf '%s\n' "$LUA_STYLE" >"$d/main.lua"
	local txt=""
	for st in inplace rename chunked trunc vim unlink; do
		say "save style $st ($STYLE_EDITS saves)"
		out=$(cd "$d" && tl 120 "$BB/fmbench" styles --file "$d/conf.lua" --style "$st" \
			--edits "$STYLE_EDITS" --gap "$GAP" --log "$log/styles" -- \
			"$FM" run -f '%.lua$' -- lua5.4 main.lua "$d/conf.lua") || true
		read -r lost doubled stale < <(awk '/^lost/{print $2, $4, $6}' <<<"$out")
		lost=${lost:-$STYLE_EDITS} doubled=${doubled:-0} stale=${stale:-0}
		all=$((all + lost + doubled + stale))
		txt+="$st $lost/$doubled/$stale, "
	done
	row "$STYLE_EDITS saves of each single-file style (in place, rename, chunked, truncate then write, vim-style, unlink + create): lost / doubled / stale" \
		"**$all** (${txt%, })" "0" "0" "$([ "$all" = 0 ] && echo met || echo "**missed**")"
}

# two files saved 3 ms apart (a then b), 20 times (quick: 5): outputs showing one new, one old
bench_pair() {
	local d=$tmp/pair out mixed lost doubled learn
	mkdir -p "$d"
	printf '%s\n' "$LUA_PAIR" >"$d/main.lua"
	say "two files saved 3 ms apart ($STYLE_EDITS pairs)"
	out=$(cd "$d" && tl 120 "$BB/fmbench" pair --file "$d/a.lua" --file2 "$d/b.lua" --apart 3 \
		--learn 1 --edits "$STYLE_EDITS" --gap "$GAP" --log "$log/pair" -- \
		"$FM" run -f '%.lua$' -- lua5.4 main.lua "$d/a.lua" "$d/b.lua") || true
	read -r mixed lost doubled learn < <(awk '/^mixed/{print $2, $4, $6, $8}' <<<"$out")
	mixed=${mixed:-nan} lost=${lost:-$STYLE_EDITS} doubled=${doubled:-0} learn=${learn:-nan}
	local verdict=met
	[ "$mixed" = 0 ] && [ "$lost" = 0 ] || verdict="**missed**"
	row "two files saved 3 ms apart: intermediate states of $STYLE_EDITS (after 1 save the window learns from)" \
		"**$mixed** ($lost lost, $doubled doubled; the learning save showed $learn)" "0" "1 (\`-d 5\`)" "$verdict"
}
