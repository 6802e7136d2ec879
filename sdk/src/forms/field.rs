//! One `<field/>` of a data form.

use waxwing_xml::{Element, StanzaError, ns};

use super::bad_request;

/// XEP-0004 §3.3 field types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// `boolean`: "0"/"1" or "false"/"true".
    Boolean,
    /// `fixed`: text for the reader, no value to give.
    Fixed,
    /// `hidden`: carried back unchanged.
    Hidden,
    /// `jid-multi`: several JIDs.
    JidMulti,
    /// `jid-single`: one JID.
    JidSingle,
    /// `list-multi`: several of the options.
    ListMulti,
    /// `list-single`: one of the options.
    ListSingle,
    /// `text-multi`: lines of text.
    TextMulti,
    /// `text-private`: a password or the like.
    TextPrivate,
    /// `text-single`: one line of text.
    TextSingle,
}

impl FieldType {
    /// The `type` attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Boolean => "boolean",
            FieldType::Fixed => "fixed",
            FieldType::Hidden => "hidden",
            FieldType::JidMulti => "jid-multi",
            FieldType::JidSingle => "jid-single",
            FieldType::ListMulti => "list-multi",
            FieldType::ListSingle => "list-single",
            FieldType::TextMulti => "text-multi",
            FieldType::TextPrivate => "text-private",
            FieldType::TextSingle => "text-single",
        }
    }

    /// The type whose `type` attribute value is `s`.
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "boolean" => FieldType::Boolean,
            "fixed" => FieldType::Fixed,
            "hidden" => FieldType::Hidden,
            "jid-multi" => FieldType::JidMulti,
            "jid-single" => FieldType::JidSingle,
            "list-multi" => FieldType::ListMulti,
            "list-single" => FieldType::ListSingle,
            "text-multi" => FieldType::TextMulti,
            "text-private" => FieldType::TextPrivate,
            "text-single" => FieldType::TextSingle,
            _ => return None,
        })
    }
}

/// A choice of a list field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldOption {
    /// What the reader sees, if not the value.
    pub label: Option<String>,
    /// What a submission carries.
    pub value: String,
}

/// A form field. `kind` is `None` where the sender left `type` out, which
/// submitted forms may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The field's name; `None` for a `fixed` line.
    pub var: Option<String>,
    /// The field's type, if given.
    pub kind: Option<FieldType>,
    /// What the reader sees as its name.
    pub label: Option<String>,
    /// `<desc/>`: a longer explanation.
    pub desc: Option<String>,
    /// `<required/>`.
    pub required: bool,
    /// Each `<value/>`, in order.
    pub values: Vec<String>,
    /// The choices of a list field.
    pub options: Vec<FieldOption>,
}

impl Field {
    /// An empty field `var` of `kind`.
    pub fn new(var: &str, kind: FieldType) -> Self {
        Field {
            var: Some(var.to_string()),
            kind: Some(kind),
            label: None,
            desc: None,
            required: false,
            values: Vec::new(),
            options: Vec::new(),
        }
    }

    /// A `text-single` field with `value`.
    pub fn text_single(var: &str, value: &str) -> Self {
        Field::new(var, FieldType::TextSingle).value(value)
    }

    /// A `hidden` field with `value`.
    pub fn hidden(var: &str, value: &str) -> Self {
        Field::new(var, FieldType::Hidden).value(value)
    }

    /// A `boolean` field with `value`.
    pub fn boolean(var: &str, value: bool) -> Self {
        Field::new(var, FieldType::Boolean).value(if value { "1" } else { "0" })
    }

    /// A `list-single` field with `value` chosen; add the options.
    pub fn list_single(var: &str, value: &str) -> Self {
        Field::new(var, FieldType::ListSingle).value(value)
    }

    /// A `jid-multi` field with `jids`.
    pub fn jid_multi<S: AsRef<str>>(var: &str, jids: &[S]) -> Self {
        jids.iter().fold(Field::new(var, FieldType::JidMulti), |f, j| f.value(j.as_ref()))
    }

    /// Text spread over lines: one `<value/>` per line, as XEP-0004 asks.
    pub fn text_multi(var: &str, text: &str) -> Self {
        text.lines().fold(Field::new(var, FieldType::TextMulti), |f, l| f.value(l))
    }

    /// A fixed, var-less line of text for the form's reader.
    pub fn fixed(text: &str) -> Self {
        let mut f = Field::new("", FieldType::Fixed).value(text);
        f.var = None;
        f
    }

    /// Sets the label.
    pub fn label(mut self, label: &str) -> Self {
        self.label = Some(label.to_string());
        self
    }

    /// Sets the description.
    pub fn desc(mut self, desc: &str) -> Self {
        self.desc = Some(desc.to_string());
        self
    }

    /// Marks the field required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Adds a value.
    pub fn value(mut self, value: &str) -> Self {
        self.values.push(value.to_string());
        self
    }

    /// Adds each of `values` (a `*-multi` field's).
    pub fn values<S: AsRef<str>>(mut self, values: &[S]) -> Self {
        self.values.extend(values.iter().map(|v| v.as_ref().to_string()));
        self
    }

    /// Adds a choice: its label and value.
    pub fn option(mut self, label: &str, value: &str) -> Self {
        let label = (!label.is_empty()).then(|| label.to_string());
        self.options.push(FieldOption { label, value: value.to_string() });
        self
    }

    /// The value read as an XEP-0004 boolean ("1"/"true", "0"/"false").
    pub fn bool_value(&self) -> Option<bool> {
        match self.values.first().map(|v| v.trim()) {
            Some("1" | "true") => Some(true),
            Some("0" | "false") => Some(false),
            _ => None,
        }
    }

    /// The `<field/>` element.
    pub fn to_element(&self) -> Element {
        let mut el = Element::new("field", ns::DATA_FORMS);
        if let Some(v) = &self.var {
            el.set_attr("var", v.clone());
        }
        if let Some(k) = self.kind {
            el.set_attr("type", k.as_str());
        }
        if let Some(l) = &self.label {
            el.set_attr("label", l.clone());
        }
        if let Some(d) = &self.desc {
            el.push_child(Element::new("desc", ns::DATA_FORMS).with_text(d.clone()));
        }
        if self.required {
            el.push_child(Element::new("required", ns::DATA_FORMS));
        }
        for v in &self.values {
            el.push_child(text_element("value", v));
        }
        for o in &self.options {
            let mut opt = Element::new("option", ns::DATA_FORMS).with_child(text_element("value", &o.value));
            if let Some(l) = &o.label {
                opt.set_attr("label", l.clone());
            }
            el.push_child(opt);
        }
        el
    }

    /// Reads a `<field/>`; `bad-request` when it is malformed.
    pub fn from_element(el: &Element) -> Result<Field, StanzaError> {
        let kind = match el.attr("type") {
            None => None,
            Some(t) => Some(FieldType::from_name(t).ok_or_else(|| bad_request(format!("unknown field type '{t}'")))?),
        };
        let mut field = Field {
            var: el.attr("var").map(str::to_owned),
            kind,
            label: el.attr("label").map(str::to_owned),
            desc: None,
            required: false,
            values: Vec::new(),
            options: Vec::new(),
        };
        for child in el.elements().filter(|c| c.ns == ns::DATA_FORMS) {
            match child.name.as_str() {
                "desc" => field.desc = Some(child.text()),
                "required" => field.required = true,
                "value" => field.values.push(child.text()),
                "option" => {
                    let value = child.child("value", ns::DATA_FORMS).map(Element::text).unwrap_or_default();
                    field.options.push(FieldOption { label: child.attr("label").map(str::to_owned), value });
                }
                _ => {}
            }
        }
        if field.var.is_none() && field.kind != Some(FieldType::Fixed) {
            return Err(bad_request("field without var"));
        }
        Ok(field)
    }
}

/// `<value/>` stays an explicit empty element: `<value></value>` and
/// `<value/>` read the same, but an element with no children serializes
/// self-closed, which still carries the empty value.
fn text_element(name: &str, text: &str) -> Element {
    let el = Element::new(name, ns::DATA_FORMS);
    if text.is_empty() { el } else { el.with_text(text.to_string()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_fields_need_no_var() {
        let el = Field::fixed("Read this").to_element();
        assert_eq!(el.to_xml(), "<field xmlns='jabber:x:data' type='fixed'><value>Read this</value></field>");
        assert_eq!(Field::from_element(&el).unwrap(), Field::fixed("Read this"));
        let untyped = Element::parse("<field xmlns='jabber:x:data'><value>x</value></field>").unwrap();
        assert!(Field::from_element(&untyped).is_err());
    }

    #[test]
    fn text_multi_splits_lines_and_keeps_empty_values() {
        let f = Field::text_multi("t", "one\n\nthree");
        assert_eq!(f.values, ["one", "", "three"]);
        let back = Field::from_element(&Element::parse(&f.to_element().to_xml()).unwrap()).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn booleans_read_both_spellings() {
        assert_eq!(Field::boolean("b", false).bool_value(), Some(false));
        assert_eq!(Field::text_single("b", "true").bool_value(), Some(true));
        assert_eq!(Field::text_single("b", "yes").bool_value(), None);
        assert_eq!(Field::jid_multi("j", &["a@b", "c@d"]).values.len(), 2);
    }
}
