# bash completion for ublk-qcow: verbs, their options, formats, the ids
# of the ublk devices present (-n), -o keys and --crypto-backend values;
# image and key file names.

_ublk_qcow_ids() {
	local d ids=
	for d in /sys/class/ublk-char/ublkc*; do
		[ -e "$d" ] && ids+=" ${d##*/ublkc}"
	done
	echo "$ids"
}

_ublk_qcow() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local verb=${COMP_WORDS[1]} IFS=$' \t\n' words=

	COMPREPLY=()
	if [ "$COMP_CWORD" -eq 1 ]; then
		words="add del list recover snapshot features -h --help -V --version"
		COMPREPLY=($(compgen -W "$words" -- "$cur"))
		return
	fi
	case $prev in
	-F | --format) words="qcow2 qcow raw" ;;
	-n | --number) words=$(_ublk_qcow_ids) ;;
	--crypto-backend) words="auto kernel openssl nettle" ;;
	-o | --options)
		compopt -o nospace 2>/dev/null
		words="user_copy= zero_copy= batch_io= affinity= scheduler= format= untrusted= allow_dir=
			allow_block_devices= snapshot= crypto_backend=
			l2-cache-size= refcount-cache-size= cache-size=
			l2-cache-entry-size= cache-clean-interval="
		COMPREPLY=($(compgen -W "$words" -- "${cur##*,}"))
		[[ $cur == *,* ]] && COMPREPLY=("${COMPREPLY[@]/#/${cur%,*},}")
		return ;;
	-f | --file | --key-file | --backing-key-file)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -- "$cur"))
		return ;;
	--allow-dir)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -d -- "$cur"))
		return ;;
	-q | -d | -c | --snapshot | --key-keyring | --backing-key-keyring | --name) return ;;
	*)
		case $verb in
		add) words="-f -F -q -d -r --read-only -n --name --direct
			--user-copy --zero-copy --batch-io --untrusted --allow-dir
			--allow-block-devices --snapshot --key-file --key-keyring
			--backing-key-file --backing-key-keyring
			--crypto-backend -o --foreground" ;;
		del) words="-n -a --name" ;;
		list) words="-n --name --json --udev" ;;
		recover) words="-n --name -f -F --key-file --key-keyring
			--backing-key-file --backing-key-keyring
			--crypto-backend --foreground" ;;
		snapshot) words="-n --name -c -d -l" ;;
		*) return ;;
		esac
		words+=" -h --help" ;;
	esac
	COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _ublk_qcow ublk-qcow
