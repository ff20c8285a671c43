# Deterministic text for compression benchmarks: log lines and prose from a fixed vocabulary,
# chosen by a Park-Miller generator (exact in any awk's doubles), so every awk gives the same
# bytes. Usage: awk -v bytes=N -v seed=S -f gen-text.awk > file
function rnd(n) { state = (state * 16807) % 2147483647; return int(state / 2147483647 * n) }
# Skewed pick: small indices far more often, like word frequencies in text.
function zipf(n,   r) { r = rnd(n); return int(r * r / n) }
BEGIN {
    state = seed ? seed : 42
    nw = split("the of and to in a is that for it as was with be by on not he I this are or his from at which but have an they you were her she there would their we him been has when who will more no if out so said what up its about into than them can only other new some could time these two may then do first any my now such like our over man me even most made after also did many before must through back years where much your way well down should because each just those people how too little state good very make world still own see men work long get here between both life being under never day same another know while last might us great old year off come since against go came right used take three states himself few house use during without again place american around however home small found mrs thought went say part once general high upon school every don does got united left number course war until always away something fact though water less public put think almost hand enough far took head yet government system better set told nothing night end why called didn eyes find going look asked later knew point next program city business give group toward young days let room president side social given present several order national possible rather second face per among form important often things looked early white case john become large big need four within felt along children saw best church ever least power development light thing seemed family interest want members mind country area others done turned although open god service certain kind problem began different door thus help sense means whole matter perhaps itself york times law human line above name example action company hands local show whether five history gave today either act feet across taken past quite anything seen having death experience body word half really week free", words, " ")
    split("INFO INFO INFO INFO DEBUG DEBUG WARN ERROR", levels, " ")
    split("GET GET GET POST POST PUT DELETE", methods, " ")
    split("users orders items carts sessions search reports health", paths, " ")
    split("200 200 200 200 200 201 204 304 400 404 500", codes, " ")
    t = 1700000000; total = 0
    while (total < bytes) {
        if (rnd(10) < 6) {
            t += rnd(3)
            line = sprintf("%d.%03d %-5s worker-%d %s /api/v%d/%s/%d status=%s bytes=%d took=%d.%dms",
                t, rnd(1000), levels[rnd(8) + 1], rnd(16), methods[rnd(7) + 1], rnd(3) + 1,
                paths[rnd(8) + 1], rnd(100000), codes[rnd(11) + 1], rnd(65536), rnd(500), rnd(10))
        } else {
            n = 6 + rnd(14); line = ""
            for (i = 0; i < n; i++) line = line (i ? " " : "") words[zipf(nw) + 1]
            line = toupper(substr(line, 1, 1)) substr(line, 2) "."
        }
        print line
        total += length(line) + 1
    }
}
