# shellcheck shell=bash disable=SC2034
# size-budget.sh: the one place the router size budget lives. Sourced by
# dist.sh and bench.sh. Raising it is a decision: change it here, in its
# own commit, saying why.
#
# linux/mipsle (softfloat), stripped (-s -w), -trimpath, empty build ID:
size_budget=3670016 # 3.5 MiB
