# bash completion for qpctl(1): commands and options, the site names the
# daemon knows and job ids (both asked from the daemon, over the socket
# given on the command line or $QUICKPAGED_SOCKET).

# The daemon's answer for words: sites (from stats), jobs (list: recent
# jobs; active: queued and running). Nothing when it cannot be asked.
_qpctl_ask()
{
	local what=$1 op line
	case $what in
	sites) op=stats ;;
	jobs) op=list ;;
	active) op=status ;;
	esac
	line=$(qpctl "${_qpctl_sock[@]}" --json "$op" 2>/dev/null) || return 0
	case $what in
	sites)
		# Site names are letters, digits, '-', '_' and '.': no quotes or
		# commas to escape in the JSON.
		[[ $line == *'"sites":['*']'* ]] || return 0
		line=${line#*\"sites\":[}
		line=${line%%]*}
		line=${line//\"/}
		printf '%s\n' ${line//,/ }
		;;
	*)
		grep -o '"job_id":[0-9]*' <<<"$line" | cut -d: -f2
		;;
	esac
}

_qpctl()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local commands="submit status list cancel watch stats cache ping"
	local globals="--socket --json --help --version"
	local submit_opts="--config --output-dir --quick --wait --follow --no-cache
		--refresh --minify --no-minify"
	local i w cmd="" config=0
	local -a _qpctl_sock=() args=()

	# The command is the first word that is not a global option or its
	# argument; a --socket given before it is used to ask the daemon.
	# ARGS: the command's words that are not options (nor --config's file).
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		if [[ -z $cmd ]]; then
			case $w in
			--socket | -s)
				((i++))
				((i < COMP_CWORD)) &&
					_qpctl_sock=(--socket "${COMP_WORDS[i]}")
				;;
			--socket=*) _qpctl_sock=(--socket "${w#--socket=}") ;;
			-*) ;;
			*) cmd=$w ;;
			esac
		else
			case $w in
			--config | -c) config=1; ((i++)) ;;
			--config=*) config=1 ;;
			--output-dir) ((i++)) ;;
			-*) ;;
			*) args+=("$w") ;;
			esac
		fi
	done

	COMPREPLY=()
	if [[ -z $cmd ]]; then
		case $prev in
		--socket | -s)
			COMPREPLY=($(compgen -f -- "$cur"))
			return 0
			;;
		esac
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "$globals" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		fi
		return 0
	fi

	case $cmd in
	submit)
		if [[ $prev == --config || $prev == -c ]]; then
			COMPREPLY=($(compgen -f -- "$cur"))
		elif [[ $prev == --output-dir ]]; then
			COMPREPLY=($(compgen -d -- "$cur"))
		elif [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "$submit_opts" -- "$cur"))
		elif ((${#args[@]} == 0)); then
			COMPREPLY=($(compgen -W "create-index create-list" -- "$cur"))
		elif ((${#args[@]} == 1 && !config)); then
			# A site, unless --config names a file instead.
			COMPREPLY=($(compgen -W "$(_qpctl_ask sites)" -- "$cur"))
		fi
		;;
	status | watch)
		((${#args[@]} == 0)) &&
			COMPREPLY=($(compgen -W "$(_qpctl_ask jobs)" -- "$cur"))
		;;
	cancel)
		((${#args[@]} == 0)) &&
			COMPREPLY=($(compgen -W "$(_qpctl_ask active)" -- "$cur"))
		;;
	stats)
		((${#args[@]} == 0)) &&
			COMPREPLY=($(compgen -W "--prometheus" -- "$cur"))
		;;
	cache)
		if ((${#args[@]} == 0)); then
			COMPREPLY=($(compgen -W "stats clear" -- "$cur"))
		elif ((${#args[@]} == 1)); then
			COMPREPLY=($(compgen -W "$(_qpctl_ask sites)" -- "$cur"))
		fi
		;;
	esac
	return 0
}
complete -F _qpctl qpctl
