# Test stand-ins for OpenWrt's /lib/functions.sh (UCI) and /lib/functions/procd.sh, written from
# their documented behaviour (https://openwrt.org/docs/guide-developer/config-scripting):
# config_load evaluates the package's UCI export (same syntax as /etc/config/NAME: `config`,
# `option`, `list`), anonymous sections get cfgNNNNNN names, lists are ITEMn/LENGTH variables and
# config_get of a list gives the items joined by spaces; config_foreach and config_list_foreach
# ignore their callbacks' exit status. procd_* and friends append one line per call to $TRACE,
# each argument in [brackets]. Sourced by test.sh with sh; UCI_DIR names the config directory.
# shellcheck shell=sh disable=SC3043,SC2034

_uci_n=0
package() { :; }
config() {
	local type="$1" name="$2"
	_uci_n=$((_uci_n + 1))
	[ -n "$name" ] || name=$(printf 'cfg%06x' "$_uci_n")
	CONFIG_SECTION=$name
	CONFIG_SECTIONS="$CONFIG_SECTIONS $name"
	eval "CONFIG_${name}_TYPE=\$type"
}
option() {
	local name="$1"
	shift
	eval "CONFIG_${CONFIG_SECTION}_${name}=\$*"
}
list() {
	local name="$1" value="$2" len
	eval "len=\${CONFIG_${CONFIG_SECTION}_${name}_LENGTH:-0}"
	[ "$len" -gt 0 ] || CONFIG_LIST_STATE="$CONFIG_LIST_STATE ${CONFIG_SECTION}_${name}"
	len=$((len + 1))
	eval "CONFIG_${CONFIG_SECTION}_${name}_ITEM${len}=\$value"
	eval "CONFIG_${CONFIG_SECTION}_${name}_LENGTH=\$len"
	eval "CONFIG_${CONFIG_SECTION}_${name}=\"\${CONFIG_${CONFIG_SECTION}_${name}:+\${CONFIG_${CONFIG_SECTION}_${name}} }\$value\""
}
# Like uci_load, a new load empties the lists of the previous one (options are overwritten).
config_load() {
	local _l
	for _l in $CONFIG_LIST_STATE; do
		eval "CONFIG_${_l}=; CONFIG_${_l}_LENGTH=0"
	done
	CONFIG_LIST_STATE=""
	CONFIG_SECTIONS=""
	_uci_n=0
	[ -f "$UCI_DIR/$1" ] || return 1
	# shellcheck disable=SC1090
	. "$UCI_DIR/$1"
}
config_get() {
	case $# in
	2) eval "printf '%s\n' \"\${CONFIG_${1}_${2}}\"" ;;
	*) eval "$1=\${CONFIG_${2}_${3}:-\$4}" ;;
	esac
}
config_get_bool() {
	local _v
	config_get _v "$2" "$3" "$4"
	case "$_v" in
	1 | on | true | yes | enabled) _v=1 ;;
	0 | off | false | no | disabled) _v=0 ;;
	*) _v=$4 ;;
	esac
	eval "$1=\$_v"
}
config_foreach() {
	local _fn="$1" _type="$2" _s _t
	shift 2
	for _s in $CONFIG_SECTIONS; do
		config_get _t "$_s" TYPE
		[ -z "$_type" ] || [ "$_t" = "$_type" ] || continue
		"$_fn" "$_s" "$@"
	done
	return 0
}
config_list_foreach() {
	local _s="$1" _o="$2" _fn="$3" _len _i=1 _v
	shift 3
	config_get _len "$_s" "${_o}_LENGTH"
	[ -n "$_len" ] || return 0
	while [ "$_i" -le "$_len" ]; do
		config_get _v "$_s" "${_o}_ITEM$_i"
		"$_fn" "$_v" "$@"
		_i=$((_i + 1))
	done
	return 0
}

_trace() {
	local a line="$1"
	shift
	for a in "$@"; do line="$line [$a]"; done
	printf '%s\n' "$line" >>"$TRACE"
}
procd_open_instance() { _trace procd_open_instance "$@"; }
procd_set_param() { _trace procd_set_param "$@"; }
procd_append_param() { _trace procd_append_param "$@"; }
procd_close_instance() { _trace procd_close_instance "$@"; }
procd_add_reload_trigger() { _trace procd_add_reload_trigger "$@"; }
procd_add_interface_trigger() { _trace procd_add_interface_trigger "$@"; }
procd_send_signal() { _trace procd_send_signal "$@"; }
# PROCD_RUNNING=1: the instance runs (before and after start).
procd_running() {
	_trace procd_running "$@"
	[ "${PROCD_RUNNING:-0}" = 1 ]
}
logger() { _trace logger "$@"; }
# rc.common's start for USE_PROCD scripts: start_service (and service_triggers) within one
# service registration.
start() {
	_trace start
	start_service "$@"
}
