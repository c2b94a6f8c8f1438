# bash completion for forkmon and forkmon-client                 -*- shell-script -*-
#
# Installed as bash-completion's completions/forkmon and completions/forkmon-client.
# Subcommands and options are completed; pattern values (-f, -i) are left free, the
# command after `--` (or the first non-option) is completed as a command line.

_forkmon_cmdline()
{
	# complete words[i..] as a command of its own
	local i=$1
	_command_offset "$i"
}

_forkmon()
{
	local cur prev words cword
	_init_completion -n = || return

	local sub i
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		run | helper) sub=${words[i]}; break ;;
		-*) ;;
		*) break ;;
		esac
	done

	if [[ -z $sub ]]; then
		COMPREPLY=($(compgen -W 'run helper client --help --version' -- "$cur"))
		return
	fi

	case $sub in
	run)
		local j
		for ((j = i + 1; j < cword; j++)); do
			if [[ ${words[j]} == -- ]]; then
				_forkmon_cmdline $((j + 1))
				return
			fi
		done
		case $prev in
		-f | --filter | -i | --ignore | -d | --delay | -g | --grace | -m | --max-checkpoints)
			return ;; # a pattern or a number: left free
		-E | --events)
			_filedir
			return ;;
		esac
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W '--filter --ignore --quiet --delay --every --clear
				--events --grace --max-checkpoints --no-default-ignores --help --' -- "$cur"))
			return
		fi
		# the first word that is not an option's value starts the command
		local k=$((i + 1))
		while ((k < cword)); do
			case ${words[k]} in
			-f | --filter | -i | --ignore | -d | --delay | -g | --grace | -m | --max-checkpoints | -E | --events)
				k=$((k + 2)) ;;
			-*) k=$((k + 1)) ;;
			*) _forkmon_cmdline $k; return ;;
			esac
		done
		_forkmon_cmdline $cword
		;;
	helper)
		case $prev in
		-f | --filter | -i | --ignore | -t | --timeout | -n | --max-sessions | --ready-fd)
			return ;;
		-s | --socket)
			_filedir
			return ;;
		esac
		COMPREPLY=($(compgen -W 'status stop --socket --timeout --max-sessions --filter --ignore --no-default-ignores --help' -- "$cur"))
		;;
	esac
}
complete -F _forkmon forkmon

_forkmon_client()
{
	local cur prev words cword
	_init_completion || return
	local i
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		-s | --socket) i=$((i + 1)) ;;
		--) _forkmon_cmdline $((i + 1)); return ;;
		-*) ;;
		*) _forkmon_cmdline $i; return ;;
		esac
	done
	case $prev in
	-s | --socket) _filedir; return ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W '--socket --help --' -- "$cur"))
		return
	fi
	_forkmon_cmdline $cword
}
complete -F _forkmon_client forkmon-client
