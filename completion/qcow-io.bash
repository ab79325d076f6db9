# bash completion for qcow-io: options, formats, cache, discard and AIO
# modes, the -c commands and the values of --crypto-backend; else file
# names.

_qcow_io() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local IFS=$' \t\n' words=

	COMPREPLY=()
	if [ "$prev" = = ] && [ "$COMP_CWORD" -ge 3 ]; then
		prev=${COMP_WORDS[COMP_CWORD - 2]}
	elif [[ $cur == --*=* ]]; then
		prev=${cur%%=*}
		cur=${cur#*=}
	fi
	case $prev in
	-f | --format) words="qcow2 qcow raw" ;;
	-t | --cache) words="none directsync writeback writethrough unsafe" ;;
	-d | --discard) words="ignore off unmap on" ;;
	-i | --aio) words="native threads io_uring" ;;
	-c | --cmd)
		words="abort aio_flush aio_read aio_write alloc break close
			discard flush help info length map open quit read readv
			remove_break reopen resume sigraise sleep truncate
			wait_break write writev" ;;
	--crypto-backend) words="auto kernel openssl nettle" ;;
	--allow-dir)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -d -- "$cur"))
		return ;;
	-l | --load-snapshot | --object | -T | --trace) return ;;
	*)
		if [[ $cur == -* ]]; then
			words="-c --cmd -f --format -r --read-only -l --load-snapshot
				-n --nocache -t --cache -d --discard -i --aio
				-k --native-aio -m --misalign -T --trace
				-U --force-share -s --snapshot -C --copy-on-read
				--untrusted --allow-dir --allow-block-devices
				--object --image-opts --crypto-backend
				-h --help -V --version"
		else
			compopt -o filenames 2>/dev/null
			COMPREPLY=($(compgen -f -- "$cur"))
			return
		fi ;;
	esac
	COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _qcow_io qcow-io
