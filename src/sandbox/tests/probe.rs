use super::support::*;
use crate::sandbox::Sandbox;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe() {
    for src in [
        "() => { const a = []; while (true) a.push({ x: a.length }); }",
        "() => { const a = []; while (true) a.push([a.length]); }",
        "() => { let s = 'xy'; while (true) { s = s + s; s.indexOf('z'); } }",
        "() => { let s = 'xy'; while (true) { s = s.repeat(2); } }",
        "() => { globalThis.keep = []; while (true) keep.push({ x: keep.length }); }",
        "() => { const m = new Map(); for (let i = 0; ; i++) m.set(i, 'v' + i); }",
        "() => { const a = []; for (let i = 0; i < 100000; i++) a.push({ i }); throw null; }",
        "() => { throw null }",
    ] {
        let r = run_on(
            &Sandbox::new(2),
            src,
            serde_json::json!({}),
            limits_ms(20000),
        )
        .await;
        println!("{src}\n  => {:?} in {:?}\n", r.result, r.duration);
    }
    for src in [
        "(x) => {\n  let a = ;\n}",
        "x => x // c",
        "42",
        "({})",
        "x => x); while(1); (y => y",
    ] {
        println!("{src:?} => {:?}", crate::sandbox::check_syntax(src));
    }
}
