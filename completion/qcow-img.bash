# bash completion for qcow-img: commands, their options, formats and the
# values of -r, --output, --crypto-backend and -o keys; else file names.

_qcow_img_words() {
	local IFS=$' \t\n'
	COMPREPLY=($(compgen -W "$1" -- "$2"))
}

_qcow_img_files() {
	compopt -o filenames 2>/dev/null
	COMPREPLY=($(compgen -f -- "$1"))
}

_qcow_img() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local verb=${COMP_WORDS[1]} opts
	local trust="--untrusted --allow-dir --allow-block-devices --object --image-opts --crypto-backend="
	local keys="size= compat= cluster_size= refcount_bits= lazy_refcounts=
		extended_l2= compression_type= preallocation= data_file=
		data_file_raw= backing_file= backing_fmt= encrypt.format=
		encrypt.key-secret= encrypt.cipher-alg= encrypt.cipher-mode=
		encrypt.ivgen-alg= encrypt.ivgen-hash-alg= encrypt.hash-alg=
		encrypt.iter-time="

	COMPREPLY=()
	if [ "$COMP_CWORD" -eq 1 ]; then
		_qcow_img_words "amend bench bitmap check commit compare convert create
			dd info map measure rebase resize snapshot -h --help -V --version" "$cur"
		return
	fi
	# --opt=value, whether or not '=' splits words
	if [ "$prev" = = ] && [ "$COMP_CWORD" -ge 3 ]; then
		prev=${COMP_WORDS[COMP_CWORD - 2]}
	elif [[ $cur == --*=* ]]; then
		prev=${cur%%=*}
		cur=${cur#*=}
	fi
	# bench's -o is an offset; it and its other numbers take no completion
	case $verb:$prev in
	bench:-[cdos] | bench:--threads | bench:--flush-interval | bench:--pattern)
		return ;;
	esac
	case $prev in
	-f | -F | -O) _qcow_img_words "qcow2 qcow raw" "$cur"; return ;;
	-t) _qcow_img_words "none writeback writethrough directsync unsafe" "$cur"
		return ;;
	-i) _qcow_img_words "threads native io_uring" "$cur"; return ;;
	-r) _qcow_img_words "leaks all" "$cur"; return ;;
	--output) _qcow_img_words "human json" "$cur"; return ;;
	--preallocation) _qcow_img_words "off metadata falloc full" "$cur"; return ;;
	--crypto-backend) _qcow_img_words "auto kernel openssl nettle" "$cur"; return ;;
	--allow-dir)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -d -- "$cur"))
		return ;;
	-o)
		compopt -o nospace 2>/dev/null
		_qcow_img_words "$keys" "${cur##*,}"
		[[ $cur == *,* ]] && COMPREPLY=("${COMPREPLY[@]/#/${cur%,*},}")
		return ;;
	-b | -B) _qcow_img_files "$cur"; return ;;
	-g | -S | --merge | --bitmap | --object | --start-offset | --max-length | --size)
		return ;;
	esac
	# options taking a snapshot's name here, none elsewhere
	case $verb:$prev in
	snapshot:-[cad] | convert:-l | measure:-l) return ;;
	esac
	if [[ $cur == -* ]]; then
		case $verb in
		amend) opts="-f -p -q -o --force" ;;
		bench) opts="-c -d -f --flush-interval= -i -n --no-drain -o
			--pattern= -q -s -S -t -w -U --threads" ;;
		bitmap) opts="--merge --add --remove --clear --enable --disable -b -F -g -f" ;;
		check) opts="-q -f --output= -r -U" ;;
		commit) opts="-f -b -d -p -q" ;;
		compare) opts="-f -F -p -q -s -U" ;;
		convert) opts="-f -O -o -c -B -F -n -p -q -S -U --bitmaps
			--skip-broken-bitmaps -l --target-image-opts" ;;
		create) opts="-f -o -b -F -u -q --object --crypto-backend="; trust= ;;
		dd) opts="-f -O -U bs= count= skip= if= of=" ;;
		info) opts="-f --output= --backing-chain -U" ;;
		measure) opts="--output= -O -o --size -f -l -U" ;;
		map) opts="-f --output= --start-offset= --max-length= --bitmap -U" ;;
		rebase) opts="-f -p -q -u -U -b -F" ;;
		resize) opts="-f -q --shrink --preallocation=" ;;
		snapshot) opts="-f -q -U -l -c -a -d" ;;
		*) return ;;
		esac
		_qcow_img_words "$opts $trust -h --help" "$cur"
		[[ ${COMPREPLY[0]:-} == *= ]] && compopt -o nospace 2>/dev/null
		return
	fi
	_qcow_img_files "$cur"
}
complete -F _qcow_img qcow-img
