#!/bin/sh
# build.sh: "builds" a site: a slow preparation, then a page per line of pages.txt.
echo "build: preparing (slow: done once under forkmon)"
sleep 0.5 # stands in for the slow part: fetching, configuring, a toolchain's start-up

n=0
while IFS='|' read -r name title; do
	n=$((n + 1))
	echo "page $name.html: <h1>$title</h1>"
done <pages.txt
echo "build: $n pages"
