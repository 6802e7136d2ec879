//! XEP-0115 entity capabilities: the verification string of §5.1 and its
//! `ver` (base64 of the SHA-1 of that string).
//!
//! Two entry points, because the two sides trust their input differently:
//! [`ver`] hashes information this server assembled itself and quietly
//! normalises it (duplicates collapse, unusable forms are left out, exactly
//! what a client following §5.4 would also leave out), while
//! [`verification_string`] and [`info_ver`] check a remote entity's disco#info
//! against the rules of §5.4 and refuse ill-formed input, so a client cannot
//! get a poisoned `ver` cached.

use base64::Engine as _;
use sha1::{Digest as _, Sha1};

use crate::Element;
use crate::ns;

/// The namespace of the `<c/>` element in presence and stream features.
pub const NS: &str = "http://jabber.org/protocol/caps";

/// The `node` this server names itself by in caps (stream features) and
/// answers disco#info for as `SERVER_NODE#ver`.
pub const SERVER_NODE: &str = "https://waxwing.im";

/// The only hash function §5 requires every entity to support.
pub const HASH_SHA1: &str = "sha-1";

/// A XEP-0030 identity as it enters the verification string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Identity<'a> {
    pub category: &'a str,
    pub type_: &'a str,
    /// The `xml:lang` of the name, "" for none.
    pub lang: &'a str,
    pub name: &'a str,
}

impl Identity<'_> {
    /// §5.1 sorts by category, then type, then xml:lang; the name only breaks
    /// ties so the order is total and the result deterministic.
    fn sort_key(&self) -> (&str, &str, &str, &str) {
        (self.category, self.type_, self.lang, self.name)
    }
}

/// Why a disco#info result cannot be trusted for caps (§5.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CapsError {
    DuplicateIdentity,
    DuplicateFeature(String),
    /// Two forms share a FORM_TYPE.
    DuplicateFormType(String),
    /// A FORM_TYPE field carries several different values.
    AmbiguousFormType,
    /// An extended-info form has no FORM_TYPE field at all.
    MissingFormType,
    /// The element handed to [`info_ver`] is not a disco#info `<query/>`.
    NotDiscoInfo,
}

impl std::fmt::Display for CapsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CapsError::DuplicateIdentity => f.write_str("duplicate identity"),
            CapsError::DuplicateFeature(var) => write!(f, "duplicate feature {var}"),
            CapsError::DuplicateFormType(t) => write!(f, "two forms of FORM_TYPE {t}"),
            CapsError::AmbiguousFormType => f.write_str("FORM_TYPE with conflicting values"),
            CapsError::MissingFormType => f.write_str("extended info form without FORM_TYPE"),
            CapsError::NotDiscoInfo => f.write_str("not a disco#info query"),
        }
    }
}

impl std::error::Error for CapsError {}

/// One extended-info form reduced to what the verification string needs.
struct Form<'a> {
    form_type: String,
    /// (var, sorted values), FORM_TYPE excluded.
    fields: Vec<(&'a str, Vec<String>)>,
}

/// What a form contributes: usable, ignored (§5.4: FORM_TYPE not hidden), or
/// ill-formed.
fn read_form(form: &Element) -> Result<Option<Form<'_>>, CapsError> {
    let fields: Vec<&Element> = form.elements().filter(|e| e.is("field", ns::DATA_FORMS)).collect();
    let Some(form_type_field) = fields.iter().find(|f| f.attr("var") == Some("FORM_TYPE")) else {
        return Err(CapsError::MissingFormType);
    };
    let mut type_values = values_of(form_type_field);
    type_values.dedup();
    let form_type = match type_values.as_slice() {
        [one] => one.clone(),
        [] => return Err(CapsError::MissingFormType),
        _ => return Err(CapsError::AmbiguousFormType),
    };
    if form_type_field.attr("type") != Some("hidden") {
        return Ok(None);
    }
    let mut vars: Vec<(&str, Vec<String>)> =
        fields.iter().filter_map(|f| f.attr("var").filter(|v| *v != "FORM_TYPE").map(|v| (v, values_of(f)))).collect();
    vars.sort_by(|a, b| a.0.cmp(b.0));
    Ok(Some(Form { form_type, fields: vars }))
}

/// A field's values, sorted as §5.1 requires.
fn values_of(field: &Element) -> Vec<String> {
    let mut values: Vec<String> =
        field.elements().filter(|e| e.is("value", ns::DATA_FORMS)).map(Element::text).collect();
    values.sort();
    values
}

fn is_extended_info(form: &Element) -> bool {
    form.is("x", ns::DATA_FORMS) && form.attr("type") == Some("result")
}

/// Writes S from already-checked parts.
fn write_string(identities: &[Identity<'_>], features: &[&str], forms: &[Form<'_>]) -> String {
    let mut s = String::new();
    for i in identities {
        for part in [i.category, i.type_, i.lang] {
            s.push_str(part);
            s.push('/');
        }
        s.push_str(i.name);
        s.push('<');
    }
    for f in features {
        s.push_str(f);
        s.push('<');
    }
    for form in forms {
        s.push_str(&form.form_type);
        s.push('<');
        for (var, values) in &form.fields {
            s.push_str(var);
            s.push('<');
            for v in values {
                s.push_str(v);
                s.push('<');
            }
        }
    }
    s
}

/// The §5.1 verification string of a remote entity's disco#info, refusing
/// what §5.4 calls ill-formed. `forms` are the `<x xmlns='jabber:x:data'/>`
/// children of the query; those not of type `result` are not extended info
/// and are skipped.
pub fn verification_string(
    identities: &[Identity<'_>],
    features: &[&str],
    forms: &[Element],
) -> Result<String, CapsError> {
    let mut identities = identities.to_vec();
    identities.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    if identities.windows(2).any(|w| w[0] == w[1]) {
        return Err(CapsError::DuplicateIdentity);
    }
    let mut features = features.to_vec();
    features.sort_unstable();
    if let Some(w) = features.windows(2).find(|w| w[0] == w[1]) {
        return Err(CapsError::DuplicateFeature(w[0].to_owned()));
    }
    let mut read = Vec::new();
    for form in forms.iter().filter(|f| is_extended_info(f)) {
        if let Some(form) = read_form(form)? {
            read.push(form);
        }
    }
    read.sort_by(|a, b| a.form_type.cmp(&b.form_type));
    if let Some(w) = read.windows(2).find(|w| w[0].form_type == w[1].form_type) {
        return Err(CapsError::DuplicateFormType(w[0].form_type.clone()));
    }
    Ok(write_string(&identities, &features, &read))
}

/// The `ver` of information this server assembled itself: duplicate
/// identities and features count once, forms without a usable FORM_TYPE are
/// left out and of several forms with one FORM_TYPE the first counts. A disco
/// answer that applies the same rules hashes to the same value.
pub fn ver(identities: &[Identity<'_>], features: &[&str], forms: &[Element]) -> String {
    let mut identities = identities.to_vec();
    identities.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    identities.dedup();
    let mut features = features.to_vec();
    features.sort_unstable();
    features.dedup();
    let mut read: Vec<Form<'_>> = Vec::new();
    for form in forms.iter().filter(|f| is_extended_info(f)) {
        if let Ok(Some(form)) = read_form(form)
            && !read.iter().any(|r| r.form_type == form.form_type)
        {
            read.push(form);
        }
    }
    read.sort_by(|a, b| a.form_type.cmp(&b.form_type));
    hash(&write_string(&identities, &features, &read))
}

/// The `ver` a remote entity's disco#info `<query/>` hashes to, or why it is
/// ill-formed (§5.4).
pub fn info_ver(query: &Element) -> Result<String, CapsError> {
    let (identities, features, forms) = info_parts(query)?;
    verification_string(&identities, &features, &forms).map(|s| hash(&s))
}

/// The `ver` of a disco#info `<query/>` this server built itself, normalised
/// as [`ver`] does; "" when `query` is not disco#info.
pub fn own_info_ver(query: &Element) -> String {
    match info_parts(query) {
        Ok((identities, features, forms)) => ver(&identities, &features, &forms),
        Err(_) => String::new(),
    }
}

type InfoParts<'a> = (Vec<Identity<'a>>, Vec<&'a str>, Vec<Element>);

fn info_parts(query: &Element) -> Result<InfoParts<'_>, CapsError> {
    if !query.is("query", ns::DISCO_INFO) {
        return Err(CapsError::NotDiscoInfo);
    }
    let identities = query
        .elements()
        .filter(|e| e.is("identity", ns::DISCO_INFO))
        .map(|e| Identity {
            category: e.attr("category").unwrap_or(""),
            type_: e.attr("type").unwrap_or(""),
            lang: e.attr("xml:lang").unwrap_or(""),
            name: e.attr("name").unwrap_or(""),
        })
        .collect();
    let features = query.elements().filter(|e| e.is("feature", ns::DISCO_INFO)).filter_map(|e| e.attr("var")).collect();
    let forms = query.elements().filter(|e| e.is("x", ns::DATA_FORMS)).cloned().collect();
    Ok((identities, features, forms))
}

/// Base64 (with padding) of the SHA-1 of `verification_string`.
pub fn hash(verification_string: &str) -> String {
    let digest = Sha1::digest(verification_string.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id<'a>(category: &'a str, type_: &'a str, lang: &'a str, name: &'a str) -> Identity<'a> {
        Identity { category, type_, lang, name }
    }

    fn parse(xml: &str) -> Element {
        Element::parse(xml).unwrap()
    }

    /// XEP-0115 §5.2.
    #[test]
    fn simple_example() {
        let identities = [id("client", "pc", "", "Exodus 0.9.1")];
        let features = [
            "http://jabber.org/protocol/caps",
            "http://jabber.org/protocol/disco#info",
            "http://jabber.org/protocol/disco#items",
            "http://jabber.org/protocol/muc",
        ];
        let s = verification_string(&identities, &features, &[]).unwrap();
        assert_eq!(
            s,
            "client/pc//Exodus 0.9.1<http://jabber.org/protocol/caps<http://jabber.org/protocol/disco#info<\
             http://jabber.org/protocol/disco#items<http://jabber.org/protocol/muc<"
        );
        assert_eq!(hash(&s), "QgayPKawpkPSDYmwT/WM94uAlu0=");
        assert_eq!(ver(&identities, &features, &[]), "QgayPKawpkPSDYmwT/WM94uAlu0=");
    }

    const COMPLEX: &str = "<query xmlns='http://jabber.org/protocol/disco#info' node='http://psi-im.org#q07IKJEyjvHSyhy//CH0CxmKi8w='>\
        <identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>\
        <identity xml:lang='el' category='client' name='Ψ 0.11' type='pc'/>\
        <feature var='http://jabber.org/protocol/caps'/>\
        <feature var='http://jabber.org/protocol/disco#info'/>\
        <feature var='http://jabber.org/protocol/disco#items'/>\
        <feature var='http://jabber.org/protocol/muc'/>\
        <x xmlns='jabber:x:data' type='result'>\
          <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>\
          <field var='ip_version' type='text-multi'><value>ipv4</value><value>ipv6</value></field>\
          <field var='os'><value>Mac</value></field>\
          <field var='os_version'><value>10.5.1</value></field>\
          <field var='software'><value>Psi</value></field>\
          <field var='software_version'><value>0.11</value></field>\
        </x></query>";

    /// XEP-0115 §5.3.
    #[test]
    fn complex_example() {
        let query = parse(COMPLEX);
        assert_eq!(info_ver(&query).unwrap(), "q07IKJEyjvHSyhy//CH0CxmKi8w=");
        assert_eq!(own_info_ver(&query), "q07IKJEyjvHSyhy//CH0CxmKi8w=");
        assert_eq!(own_info_ver(&parse("<query xmlns='urn:other'/>")), "");
        let forms: Vec<Element> = query.elements().filter(|e| e.name == "x").cloned().collect();
        let identities = [id("client", "pc", "en", "Psi 0.11"), id("client", "pc", "el", "Ψ 0.11")];
        let features = [
            "http://jabber.org/protocol/muc",
            "http://jabber.org/protocol/caps",
            "http://jabber.org/protocol/disco#items",
            "http://jabber.org/protocol/disco#info",
        ];
        let s = verification_string(&identities, &features, &forms).unwrap();
        assert_eq!(
            s,
            "client/pc/el/Ψ 0.11<client/pc/en/Psi 0.11<http://jabber.org/protocol/caps<\
             http://jabber.org/protocol/disco#info<http://jabber.org/protocol/disco#items<\
             http://jabber.org/protocol/muc<urn:xmpp:dataforms:softwareinfo<ip_version<ipv4<ipv6<os<Mac<\
             os_version<10.5.1<software<Psi<software_version<0.11<"
        );
        assert_eq!(ver(&identities, &features, &forms), "q07IKJEyjvHSyhy//CH0CxmKi8w=");
    }

    #[test]
    fn forms_sort_by_form_type_and_values_sort() {
        let a = parse(
            "<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>urn:b</value></field>\
             <field var='z'><value>2</value><value>1</value></field><field var='a'><value>x</value></field></x>",
        );
        let b = parse(
            "<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>urn:a</value></field></x>",
        );
        let s = verification_string(&[], &[], &[a, b]).unwrap();
        assert_eq!(s, "urn:a<urn:b<a<x<z<1<2<");
    }

    #[test]
    fn ill_formed_input_is_refused() {
        let client = [id("client", "pc", "", "x")];
        assert_eq!(verification_string(&[client[0], client[0]], &[], &[]), Err(CapsError::DuplicateIdentity));
        assert_eq!(
            verification_string(&client, &["urn:a", "urn:a"], &[]),
            Err(CapsError::DuplicateFeature("urn:a".into()))
        );
        let form = |t: &str| {
            parse(&format!(
                "<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'>{t}</field></x>"
            ))
        };
        let twice = [form("<value>urn:a</value>"), form("<value>urn:a</value>")];
        assert_eq!(verification_string(&client, &[], &twice), Err(CapsError::DuplicateFormType("urn:a".into())));
        let ambiguous = [form("<value>urn:a</value><value>urn:b</value>")];
        assert_eq!(verification_string(&client, &[], &ambiguous), Err(CapsError::AmbiguousFormType));
        let repeated_same = [form("<value>urn:a</value><value>urn:a</value>")];
        assert_eq!(verification_string(&client, &[], &repeated_same).unwrap(), "client/pc//x<urn:a<");
        let untyped = [parse("<x xmlns='jabber:x:data' type='result'><field var='a'><value>1</value></field></x>")];
        assert_eq!(verification_string(&client, &[], &untyped), Err(CapsError::MissingFormType));
        assert_eq!(info_ver(&parse("<query xmlns='urn:other'/>")), Err(CapsError::NotDiscoInfo));
    }

    #[test]
    fn form_type_not_hidden_is_ignored() {
        let visible = parse(
            "<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE'><value>urn:a</value></field>\
             <field var='f'><value>1</value></field></x>",
        );
        assert_eq!(verification_string(&[], &["urn:f"], &[visible]).unwrap(), "urn:f<");
    }

    #[test]
    fn own_info_is_normalised_not_refused() {
        let server = id("server", "im", "", "");
        let form = |v: &str| {
            parse(&format!(
                "<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>urn:a</value></field>\
                 <field var='v'><value>{v}</value></field></x>"
            ))
        };
        let bare = parse("<x xmlns='jabber:x:data' type='result'/>");
        let messy = ver(&[server, server], &["urn:b", "urn:a", "urn:b"], &[form("1"), bare, form("2")]);
        let clean = hash(&verification_string(&[server], &["urn:a", "urn:b"], &[form("1")]).unwrap());
        assert_eq!(messy, clean);
    }
}
