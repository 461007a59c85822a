# fish completion for portsyncd (installed as
# /usr/share/fish/vendor_completions.d/portsyncd.fish). Kept in step with the
# command line by daemon/tests/completions.rs (which runs it in fish).

# The ASIC namespaces SONiC's database_global.json names (the file given by
# --db-global-config on the line, else SONiC's default).
function __portsyncd_namespaces
    set -l file /var/run/redis/sonic-db/database_global.json
    set -l tokens (commandline -opc)
    for i in (seq (count $tokens))
        switch $tokens[$i]
            case --db-global-config
                if test $i -lt (count $tokens)
                    set file $tokens[(math $i + 1)]
                end
            case '--db-global-config=*'
                set file (string replace -- --db-global-config= '' $tokens[$i])
        end
    end
    test -r "$file"; or return 0
    string match -a -r -g '"namespace"\s*:\s*"([^"]*)"' <$file
end

# The network namespaces of ip-netns(8).
function __portsyncd_netns
    for f in /run/netns/*
        string replace -r '.*/' '' -- $f
    end
end

complete -c portsyncd -f
complete -c portsyncd -l config -r -F -d 'TOML settings file'
complete -c portsyncd -l db-config -r -F -d 'SONiC database_config.json'
complete -c portsyncd -s n -l namespace -x -a '(__portsyncd_namespaces)' -d 'multi-ASIC namespace to serve'
complete -c portsyncd -l db-global-config -r -F -d 'SONiC database_global.json'
complete -c portsyncd -l netns -x -a '(__portsyncd_netns)' -d 'network namespace to enter first'
complete -c portsyncd -l db -x -a 'redis memory' -d 'database backend'
complete -c portsyncd -l state-dir -x -a '(__fish_complete_directories)' -d 'warm-restart snapshot directory'
complete -c portsyncd -l metrics-addr -x -a '9101 127.0.0.1:9101 unix:/run/portsyncd/metrics.sock' -d 'Prometheus endpoint'
complete -c portsyncd -l check-config -d 'validate the settings, print those in effect, exit'
complete -c portsyncd -l version -d 'print the version'
complete -c portsyncd -l help -d 'print the usage'
