//! What the runner relies on: arguments, results, payload calls, console, compile errors.

use std::sync::Arc;

use serde_json::json;

use super::support::*;
use crate::sandbox::memory::MemoryStore;
use crate::sandbox::{CompileError, Limits, Sandbox, ToolError, check_syntax};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_input_and_project_and_returns_json() {
    let r = run_with(
        "(input, { project, payload }) => ({ sum: input.a + input.b, name: project.name, \
         same: payload === globalThis.payload })",
        json!({ "a": 2, "b": 3 }),
        Limits::default(),
    )
    .await;
    assert_eq!(ok(&r), &json!({ "sum": 5, "name": "Demo", "same": true }));
    assert!(r.console.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_async_arrow_and_function_forms_run() {
    for src in [
        "x => 1",
        "async x => 1",
        "function (x) { return 1 }",
        "async function named(x) { return 1 }",
        "  // leading comment\n(x) => 1 // trailing comment",
    ] {
        assert_eq!(ok(&run(src).await), &json!(1), "{src}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undefined_becomes_null() {
    assert_eq!(ok(&run("() => {}").await), &json!(null));
    assert_eq!(ok(&run("async () => {}").await), &json!(null));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awaits_several_payload_calls() {
    let store = store();
    let src = r#"async ({ title }, { payload }) => {
        const a = await payload.create({ collection: 'world-rules', data: { title, rank: 2 } });
        await payload.create({ collection: 'world-rules', data: { title: 'other', rank: 1 } });
        const found = await payload.find({ collection: 'world-rules', where: { title: { equals: title } }, limit: 5 });
        const sorted = await payload.find({ collection: 'world-rules', sort: 'rank' });
        const { totalDocs } = await payload.count({ collection: 'world-rules' });
        const byId = await payload.findByID({ collection: 'world-rules', id: a.id });
        const updated = await payload.update({ collection: 'world-rules', id: a.id, data: { rank: 9 } });
        const me = await payload.find({ collection: 'projects' });
        return { id: a.id, found: found.docs.length, first: sorted.docs[0].title, totalDocs,
                 byId: byId.title, rank: updated.rank, projects: me.docs.map(p => p.id) };
    }"#;
    let r = run_in(
        &Sandbox::new(2),
        &store,
        src,
        json!({ "title": "magic" }),
        Limits::default(),
    )
    .await;
    let v = ok(&r);
    assert_eq!(v["found"], 1);
    assert_eq!(v["first"], "other");
    assert_eq!(v["totalDocs"], 2);
    assert_eq!(v["byId"], "magic");
    assert_eq!(v["rank"], 9);
    assert_eq!(
        v["projects"],
        json!(["p1"]),
        "only its own project is visible"
    );
    assert_eq!(store.all("world-rules").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payload_errors_are_catchable_exceptions() {
    let src = r#"async (_, { payload }) => {
        const out = [];
        try { await payload.findByID({ collection: 'world-rules', id: 'nope' }); }
        catch (e) { out.push(e instanceof Error, e.message); }
        try { await payload.find({ where: {} }); } catch (e) { out.push(e.message); }
        try { await payload.create({ collection: 'projects', data: { name: 'x' } }); } catch (e) { out.push(e.message); }
        try { await payload.find({ collection: 'x', where: BigInt(1) }); } catch (e) { out.push(e.name); }
        return out;
    }"#;
    let r = run(src).await;
    let v = ok(&r).as_array().cloned().unwrap_or_default();
    assert_eq!(v[0], true);
    assert!(v[1].as_str().unwrap_or("").contains("Not Found"), "{v:?}");
    assert!(
        v[2].as_str()
            .unwrap_or("")
            .contains("`collection` is required"),
        "{v:?}"
    );
    assert!(v[3].as_str().unwrap_or("").contains("read-only"), "{v:?}");
    assert_eq!(v[4], "TypeError");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uncaught_payload_error_is_a_thrown_tool_error() {
    let r = run("async (_, { payload }) => payload.count({})").await;
    match err(&r) {
        ToolError::Thrown(m) => {
            assert!(m.contains("payload.count: `collection` is required"), "{m}")
        }
        e => panic!("{e:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cannot_touch_another_projects_data() {
    let store = store();
    // Another project's document, written through its own scoped API.
    let theirs = crate::sandbox::DataOp::Create {
        collection: "notes".into(),
        data: json!({ "secret": 1 }),
    };
    let created = store.api("p2").apply(theirs).unwrap_or_default();
    let src = r#"async ({ id }, { payload }) => {
        const mine = await payload.create({ collection: 'notes', data: { project: 'p2', text: 'x' } });
        const all = await payload.find({ collection: 'notes', where: { project: { equals: 'p2' } } });
        let read = 'ok';
        try { await payload.findByID({ collection: 'notes', id }); } catch (e) { read = e.message; }
        let del = 'ok';
        try { await payload.delete({ collection: 'notes', id }); } catch (e) { del = e.message; }
        let other = 'ok';
        try { await payload.findByID({ collection: 'projects', id: 'p2' }); } catch (e) { other = e.message; }
        return { owner: mine.project, seen: all.totalDocs, read, del, other };
    }"#;
    let r = run_in(
        &Sandbox::new(2),
        &store,
        src,
        json!({ "id": created["id"] }),
        Limits::default(),
    )
    .await;
    let v = ok(&r);
    assert_eq!(v["owner"], "p1");
    assert_eq!(v["seen"], 0);
    assert!(v["read"].as_str().unwrap_or("").contains("Not Found"));
    assert!(v["del"].as_str().unwrap_or("").contains("Not Found"));
    assert!(v["other"].as_str().unwrap_or("").contains("Not Found"));
    assert_eq!(
        store
            .all("notes")
            .iter()
            .filter(|d| d["project"] == "p2")
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_is_captured_and_capped() {
    let r = run(r#"() => {
        console.log('hello', 42, { a: 1 }, [1, 2], null, undefined);
        console.info('i'); console.warn('w'); console.error(new Error('e')); console.debug('d');
        const c = {}; c.c = c; console.log(c, 10n, Symbol('s'));
        return 1;
    }"#)
    .await;
    ok(&r);
    let lines: Vec<&str> = r.console.lines().collect();
    assert_eq!(lines[0], r#"hello 42 {"a":1} [1,2] null undefined"#);
    assert_eq!(&lines[1..4], ["[info] i", "[warn] w", "[error] Error: e"]);
    assert!(r.console.contains("[debug] d"));
    assert!(
        r.console.contains("[object Object] 10 Symbol(s)"),
        "{}",
        r.console
    );

    let limits = Limits {
        max_console_bytes: 1000,
        ..Limits::default()
    };
    let r = run_with(
        "() => { for (let i = 0; i < 10000; i++) console.log('line', i); return 'done' }",
        json!({}),
        limits,
    )
    .await;
    assert_eq!(ok(&r), "done");
    assert!(r.console.len() < 1100, "{}", r.console.len());
    assert!(
        r.console
            .ends_with("[console output truncated at 1000 bytes]\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_survives_a_failure() {
    let r = run_with(
        "() => { console.log('before'); while (true) {} }",
        json!({}),
        limits_ms(200),
    )
    .await;
    assert_eq!(err(&r), &ToolError::Timeout { limit_ms: 200 });
    assert_eq!(r.console, "before\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thrown_errors_carry_message_and_location() {
    let r = run("(input) => {\n  throw new TypeError('bad input: ' + input.x);\n}").await;
    match err(&r) {
        ToolError::Thrown(m) => {
            assert!(m.starts_with("TypeError: bad input: undefined"), "{m}");
            assert!(m.contains("tool.js:2:"), "{m}");
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(
        err(&run("() => { throw 'plain' }").await),
        &ToolError::Thrown("plain".into())
    );
    assert_eq!(
        err(&run("() => { throw { code: 7 } }").await),
        &ToolError::Thrown(r#"{"code":7}"#.into())
    );
    assert_eq!(
        err(&run("() => { throw null }").await),
        &ToolError::Thrown("null".into())
    );
    let r = run("async () => { await null; return Promise.reject(new RangeError('late')) }").await;
    assert!(matches!(err(&r), ToolError::Thrown(m) if m.starts_with("RangeError: late")));
    let r = run("() => { throw new Error('x' + '\\u00e9'.repeat(3)) }").await;
    assert!(
        err(&r)
            .to_string()
            .starts_with("tool threw an error: Error: xééé")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_return_values_are_not_json() {
    for (src, want) in [
        ("() => () => 1", "function"),
        (
            "() => { const a = { b: {} }; a.b.a = a; return a }",
            "cyclic structure",
        ),
        ("() => [1n]", "BigInt"),
        ("() => Symbol('x')", "symbol"),
        (
            "() => ({ toJSON() { return undefined } })",
            "no JSON representation",
        ),
    ] {
        match err(&run(src).await) {
            ToolError::NotJson(m) => assert!(m.contains(want), "{src}: {m}"),
            e => panic!("{src}: {e:?}"),
        }
    }
    // Functions nested in objects are dropped by JSON.stringify, like the seed did.
    assert_eq!(
        ok(&run("() => ({ a: 1, f() {} })").await),
        &json!({ "a": 1 })
    );
    assert_eq!(
        ok(&run("() => [NaN, new Date(0)]").await),
        &json!([null, "1970-01-01T00:00:00.000Z"])
    );
}

#[test]
fn check_syntax_accepts_function_expressions() {
    for src in [
        "x => x",
        "async (input, { payload }) => { return 1 }",
        "function (a) { return a }",
        "async function run(a) { await 1 }",
        "(x) => x // comment without newline",
        "\n\n  async ({ projectId }) => {\n    return projectId;\n  }\n",
    ] {
        assert_eq!(check_syntax(src), Ok(()), "{src}");
    }
}

#[test]
fn check_syntax_reports_position_and_non_functions() {
    let e = check_syntax("async (input) => {\n  const a = 1;\n  let b = ;\n}").unwrap_err();
    assert!(e.message.starts_with("SyntaxError: "), "{e}");
    assert_eq!((e.line, e.column), (Some(3), Some(11)), "{e}");
    assert!(e.to_string().ends_with("(line 3, column 11)"), "{e}");

    let e = check_syntax("x => { return x +; }").unwrap_err();
    assert_eq!((e.line, e.column), (Some(1), Some(18)), "{e}");

    for src in ["42", "({ a: 1 })", "'text'", "", "  \n ", "undefined"] {
        let e: CompileError = check_syntax(src).unwrap_err();
        assert!(
            e.message.contains("must be a single function expression"),
            "{src}: {e}"
        );
    }
    let e = check_syntax("x => x); while (true) {}; (y => y").unwrap_err();
    assert!(e.message.contains("time limit"), "{e}");
    let e = check_syntax("x => x); throw new Error('boom'); (y => y").unwrap_err();
    assert!(e.message.contains("boom"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_reports_compile_errors() {
    let r = run("x => {").await;
    assert!(
        matches!(
            err(&r),
            ToolError::Compile(CompileError { line: Some(_), .. })
        ),
        "{r:?}"
    );
    let r = run("[1, 2]").await;
    assert!(matches!(err(&r), ToolError::Compile(_)), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_cap_is_enforced() {
    let limits = Limits {
        max_output_bytes: 100,
        ..Limits::default()
    };
    // The cap counts the JSON text, quotes included.
    let r = run_with("() => 'x'.repeat(98)", json!({}), limits).await;
    assert_eq!(ok(&r).as_str().map(str::len), Some(98));
    let r = run_with("() => 'x'.repeat(99)", json!({}), limits).await;
    assert_eq!(err(&r), &ToolError::OutputTooLarge { limit_bytes: 100 });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_sandbox_runs_many_calls() {
    let sandbox = Sandbox::new(3);
    let store = MemoryStore::new();
    let api: Arc<dyn crate::sandbox::DataApi> = Arc::new(store.api("p1"));
    let calls = (0..20).map(|i| {
        let sandbox = sandbox.clone();
        let api = api.clone();
        async move {
            sandbox
                .run("async (i, { payload }) => (await payload.create({ collection: 'c', data: { i: i.n } })).i",
                    json!({ "n": i }), project(), api, Limits::default())
                .await
        }
    });
    let runs = futures_util::future::join_all(calls).await;
    for (i, r) in runs.iter().enumerate() {
        assert_eq!(ok(r), &json!(i));
    }
    assert_eq!(store.all("c").len(), 20);
    assert_eq!(sandbox.idle_workers(), 3);
}
