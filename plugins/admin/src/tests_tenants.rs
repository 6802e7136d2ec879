//! The operators' commands on the SDK's fake host: restart, shutdown and
//! the tenant commands refused to a host admin who is no operator, and the
//! tenant forms' values checked before the kernel is asked.

use waxwing_sdk::adhoc;
use waxwing_sdk::server::TenantInfo;
use waxwing_sdk::testing::FakeHost;

use super::tests::{command, load, run_node, submit};
use super::*;

fn ours(name: &str) -> String {
    format!("{}#{name}", plugins::NS)
}

fn note(el: &Element) -> String {
    el.child("note", adhoc::NS).map(Element::text).unwrap_or_default()
}

/// The fake host's admin, boss@example.org, made an operator too.
fn load_as_operator() {
    load();
    FakeHost::set_operators(&["boss@example.org"]);
}

fn tenant(domain: &str, source: &str, sessions: u32) -> TenantInfo {
    TenantInfo { domain: domain.into(), source: source.into(), sessions, connections: sessions + 1 }
}

/// A form's fields as submitted: (var, values).
type Fields<'a> = &'a [(&'a str, &'a [&'a str])];

fn is_forbidden(answer: Result<Element, StanzaError>) -> bool {
    answer.is_err_and(|e| e.condition == Condition::Forbidden)
}

#[test]
fn a_host_admin_who_is_no_operator_is_forbidden_the_servers_commands() {
    load();
    FakeHost::add_tenant(tenant("b.example", "runtime", 0));
    for node in [format!("{NS}#restart"), format!("{NS}#shutdown")] {
        assert!(is_forbidden(run_node(&node, &[("delay", &["0"])])), "{node}");
    }
    assert!(is_forbidden(run_node(&ours("list-tenants"), &[])));
    assert!(is_forbidden(run_node(&ours("add-tenant"), &[("domain", &["c.example"])])));
    assert!(is_forbidden(command(&format!("<command xmlns='{}' node='{}'/>", adhoc::NS, ours("change-tenant")))));
    assert!(is_forbidden(run_node(&ours("remove-tenant"), &[("domain", &["b.example"])])));
    let e = run_node(&ours("add-tenant"), &[("domain", &["c.example"])]).unwrap_err();
    assert!(e.text.as_deref().is_some_and(|t| t.contains("operators")), "{e:?}");
    assert_eq!(FakeHost::stop_requested(), None);
    assert!(FakeHost::added_tenants().is_empty() && FakeHost::removed_tenants().is_empty());
    assert!(FakeHost::changed_tenants().is_empty());
    // Host commands stay the admin's.
    assert!(run_node(&format!("{NS}#get-registered-users-num"), &[]).is_ok());
}

#[test]
fn an_operator_lists_adds_and_removes_tenants() {
    load_as_operator();
    FakeHost::add_tenant(tenant("example.org", "config", 3));
    let listed = run_node(&ours("list-tenants"), &[]).unwrap();
    let x = DataForm::find_in(&listed).unwrap().unwrap();
    assert_eq!(x.items.len(), 1, "{listed}");
    let cell = |var: &str| x.items[0].iter().find(|f| f.var.as_deref() == Some(var)).map(|f| f.values.clone());
    assert_eq!(cell("source"), Some(vec!["config".to_string()]));
    assert_eq!(cell("connections"), Some(vec!["4".to_string()]));

    let done = run_node(
        &ours("add-tenant"),
        &[
            ("domain", &["B.Example"]),
            ("cert", &["/etc/tls/b.crt"]),
            ("key", &["/etc/tls/b.key"]),
            ("admins", &["ann@b.example", ""]),
            ("accounts", &["10"]),
            ("connections", &[""]),
            ("session_stanzas_per_sec", &[" 5 "]),
        ],
    )
    .unwrap();
    assert_eq!(note(&done), "tenant b.example added: added vhost b.example");
    assert_eq!(
        FakeHost::added_tenants(),
        ["domain = \"b.example\"\ncert = \"/etc/tls/b.crt\"\nkey = \"/etc/tls/b.key\"\nadmins = [\"ann@b.example\"]\n\
          \n[quotas]\naccounts = 10\nsession_stanzas_per_sec = 5\n"]
    );

    // Removal asks first; declining changes nothing.
    let remove = ours("remove-tenant");
    let first = command(&format!("<command xmlns='{}' node='{remove}'/>", adhoc::NS)).unwrap();
    let sid = first.attr("sessionid").unwrap().to_string();
    submit(&remove, &sid, "next", &[("domain", &["b.example"]), ("keep-data", &["1"])]).unwrap();
    let declined = submit(&remove, &sid, "complete", &[("confirm", &["0"])]).unwrap();
    assert_eq!(note(&declined), "b.example was not removed");
    assert!(FakeHost::removed_tenants().is_empty());

    let first = command(&format!("<command xmlns='{}' node='{remove}'/>", adhoc::NS)).unwrap();
    let sid = first.attr("sessionid").unwrap().to_string();
    let confirm = submit(&remove, &sid, "next", &[("domain", &["b.example"]), ("keep-data", &["1"])]).unwrap();
    assert!(confirm.to_xml().contains("data is kept"), "{confirm}");
    let done = submit(&remove, &sid, "complete", &[("confirm", &["1"])]).unwrap();
    assert_eq!(note(&done), "removed tenant b.example");
    assert_eq!(FakeHost::removed_tenants(), [("b.example".to_string(), true)]);

    // The kernel's refusal is the operator's note.
    let first = command(&format!("<command xmlns='{}' node='{remove}'/>", adhoc::NS)).unwrap();
    let sid = first.attr("sessionid").unwrap().to_string();
    submit(&remove, &sid, "next", &[("domain", &["example.org"])]).unwrap();
    let e = submit(&remove, &sid, "complete", &[("confirm", &["1"])]).unwrap_err();
    assert_eq!(e.condition, Condition::BadRequest);
    assert!(e.text.as_deref().is_some_and(|t| t.contains("config file")), "{e:?}");
}

#[test]
fn bad_tenant_values_are_bad_requests_naming_the_field() {
    load_as_operator();
    let cases: &[(Fields, &str)] = &[
        (&[("domain", &["ann@b.example"])], "domain"),
        (&[("domain", &["b.example/desk"])], "domain"),
        (&[("domain", &["not a domain"])], "domain"),
        (&[("domain", &[""])], "domain"),
        (&[("domain", &["b.example"]), ("accounts", &["ten"])], "accounts"),
        (&[("domain", &["b.example"]), ("connections", &["-1"])], "connections"),
        (&[("domain", &["b.example"]), ("session_stanzas_per_sec", &["2.5"])], "session_stanzas_per_sec"),
        (&[("domain", &["b.example"]), ("cert", &["certs/b.crt"])], "cert"),
        (&[("domain", &["b.example"]), ("admins", &["b.example"])], "admins"),
    ];
    for (fields, named) in cases {
        let e = run_node(&ours("add-tenant"), fields).unwrap_err();
        assert_eq!(e.condition, Condition::BadRequest, "{fields:?}");
        assert!(e.text.as_deref().is_some_and(|t| t.starts_with(&format!("{named}:"))), "{fields:?}: {e:?}");
    }
    assert!(FakeHost::added_tenants().is_empty(), "nothing reached the kernel");

    let remove = ours("remove-tenant");
    let first = command(&format!("<command xmlns='{}' node='{remove}'/>", adhoc::NS)).unwrap();
    let sid = first.attr("sessionid").unwrap().to_string();
    let e = submit(&remove, &sid, "next", &[("domain", &["nowhere.example"])]).unwrap_err();
    assert_eq!(e.condition, Condition::BadRequest);
    assert!(e.text.as_deref().is_some_and(|t| t.starts_with("domain:")), "{e:?}");
}

#[test]
fn a_quote_in_a_path_cannot_write_other_keys() {
    load_as_operator();
    run_node(&ours("add-tenant"), &[("domain", &["b.example"]), ("cert", &["/x\"\nadmins = [\"evil@b.example\"]"])])
        .unwrap();
    let table = &FakeHost::added_tenants()[0];
    assert_eq!(table.lines().filter(|l| l.starts_with("admins")).count(), 0, "{table}");
}

/// Starts a change and submits `domain` to its first stage; (session, answer).
fn change_of(domain: &str) -> (String, Result<Element, StanzaError>) {
    let change = ours("change-tenant");
    let first = command(&format!("<command xmlns='{}' node='{change}'/>", adhoc::NS)).unwrap();
    let sid = first.attr("sessionid").unwrap().to_string();
    let second = submit(&change, &sid, "next", &[("domain", &[domain])]);
    (sid, second)
}

#[test]
fn an_operator_changes_a_runtime_tenants_whole_table() {
    load_as_operator();
    FakeHost::add_tenant(tenant("example.org", "config", 1));
    FakeHost::add_tenant(tenant("b.example", "runtime", 0));

    // Only runtime tenants are offered.
    let change = ours("change-tenant");
    let first = command(&format!("<command xmlns='{}' node='{change}'/>", adhoc::NS)).unwrap();
    let x = DataForm::find_in(&first).unwrap().unwrap();
    let domain = x.get("domain").unwrap();
    assert_eq!(domain.kind, Some(waxwing_sdk::forms::FieldType::ListSingle), "{first}");
    assert_eq!(domain.options.iter().map(|o| o.value.as_str()).collect::<Vec<_>>(), ["b.example"]);

    let (sid, form) = change_of("b.example");
    let form = form.unwrap();
    assert!(form.to_xml().contains("whole table"), "the form says what it replaces: {form}");
    let done = submit(
        &change,
        &sid,
        "complete",
        &[("admins", &["ann@b.example"]), ("accounts", &["1"]), ("connections", &[""])],
    )
    .unwrap();
    assert_eq!(note(&done), "tenant b.example changed: no plugin changes");
    assert_eq!(
        FakeHost::changed_tenants(),
        ["domain = \"b.example\"\nadmins = [\"ann@b.example\"]\n\n[quotas]\naccounts = 1\n"]
    );
    assert!(FakeHost::added_tenants().is_empty());

    // A config file's tenant reaches the kernel, whose refusal is the note.
    let (sid, form) = change_of("example.org");
    form.unwrap();
    let e = submit(&change, &sid, "complete", &[("accounts", &["1"])]).unwrap_err();
    assert_eq!(e.condition, Condition::BadRequest);
    assert!(e.text.as_deref().is_some_and(|t| t.contains("config file")), "{e:?}");
    assert_eq!(FakeHost::changed_tenants().len(), 1);
}

#[test]
fn with_no_runtime_tenant_the_domain_is_typed() {
    load_as_operator();
    FakeHost::add_tenant(tenant("example.org", "config", 1));
    let first = command(&format!("<command xmlns='{}' node='{}'/>", adhoc::NS, ours("change-tenant"))).unwrap();
    let x = DataForm::find_in(&first).unwrap().unwrap();
    assert_eq!(x.get("domain").unwrap().kind, Some(waxwing_sdk::forms::FieldType::JidSingle), "{first}");
}

#[test]
fn bad_change_values_are_bad_requests_naming_the_field() {
    load_as_operator();
    FakeHost::add_tenant(tenant("b.example", "runtime", 0));
    for (domain, named) in [("nowhere.example", "domain"), ("ann@b.example", "domain"), ("", "domain")] {
        let e = change_of(domain).1.unwrap_err();
        assert_eq!(e.condition, Condition::BadRequest, "{domain}");
        assert!(e.text.as_deref().is_some_and(|t| t.starts_with(&format!("{named}:"))), "{domain}: {e:?}");
    }
    let cases: &[(Fields, &str)] = &[
        (&[("accounts", &["ten"])], "accounts"),
        (&[("connections", &["-1"])], "connections"),
        (&[("session_stanzas_per_sec", &["2.5"])], "session_stanzas_per_sec"),
        (&[("key", &["b.key"])], "key"),
        (&[("admins", &["b.example"])], "admins"),
    ];
    for (fields, named) in cases {
        let (sid, form) = change_of("b.example");
        form.unwrap();
        let e = submit(&ours("change-tenant"), &sid, "complete", fields).unwrap_err();
        assert_eq!(e.condition, Condition::BadRequest, "{fields:?}");
        assert!(e.text.as_deref().is_some_and(|t| t.starts_with(&format!("{named}:"))), "{fields:?}: {e:?}");
    }
    assert!(FakeHost::changed_tenants().is_empty(), "nothing reached the kernel");
}
