//! XEP-0004 data forms, with XEP-0141 layout.

mod field;
mod layout;

pub use field::{Field, FieldOption, FieldType};
pub use layout::{LAYOUT_NS, Layout, LayoutItem};

use waxwing_xml::{Element, StanzaError, StanzaErrorCondition, ns};

/// The `type` of a form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormKind {
    /// A form to fill in.
    Form,
    /// A filled-in form.
    Submit,
    /// The filler declined.
    Cancel,
    /// Data, not to be filled in.
    Result,
}

impl FormKind {
    /// The `type` attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            FormKind::Form => "form",
            FormKind::Submit => "submit",
            FormKind::Cancel => "cancel",
            FormKind::Result => "result",
        }
    }

    /// The kind whose `type` attribute value is `s`.
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "form" => FormKind::Form,
            "submit" => FormKind::Submit,
            "cancel" => FormKind::Cancel,
            "result" => FormKind::Result,
            _ => return None,
        })
    }
}

/// The hidden field naming a form's schema (XEP-0068).
pub const FORM_TYPE: &str = "FORM_TYPE";

/// A data form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataForm {
    /// The form's `type`.
    pub kind: FormKind,
    /// `<title/>`, if any.
    pub title: Option<String>,
    /// Each `<instructions/>`, in order.
    pub instructions: Vec<String>,
    /// XEP-0141 pages.
    pub pages: Vec<Layout>,
    /// The fields, in order.
    pub fields: Vec<Field>,
    /// Column headers of a multi-item result.
    pub reported: Option<Vec<Field>>,
    /// Rows of a multi-item result.
    pub items: Vec<Vec<Field>>,
}

pub(crate) fn bad_request(text: impl Into<String>) -> StanzaError {
    StanzaError::new(StanzaErrorCondition::BadRequest).with_text(text)
}

impl DataForm {
    /// An empty form of `kind`.
    pub fn new(kind: FormKind) -> Self {
        DataForm {
            kind,
            title: None,
            instructions: Vec::new(),
            pages: Vec::new(),
            fields: Vec::new(),
            reported: None,
            items: Vec::new(),
        }
    }

    /// An empty form to fill in.
    pub fn form() -> Self {
        DataForm::new(FormKind::Form)
    }

    /// An empty submission.
    pub fn submit() -> Self {
        DataForm::new(FormKind::Submit)
    }

    /// An empty result.
    pub fn result() -> Self {
        DataForm::new(FormKind::Result)
    }

    /// Sets the hidden FORM_TYPE field, kept first as XEP-0068 asks.
    pub fn with_form_type(mut self, form_type: &str) -> Self {
        self.fields.retain(|f| f.var.as_deref() != Some(FORM_TYPE));
        self.fields.insert(0, Field::hidden(FORM_TYPE, form_type));
        self
    }

    /// Sets the title.
    pub fn title(mut self, title: &str) -> Self {
        self.title = Some(title.to_string());
        self
    }

    /// Adds a paragraph of instructions.
    pub fn instructions(mut self, text: &str) -> Self {
        self.instructions.push(text.to_string());
        self
    }

    /// Adds a field.
    pub fn field(mut self, field: Field) -> Self {
        self.fields.push(field);
        self
    }

    /// Adds an XEP-0141 page.
    pub fn page(mut self, page: Layout) -> Self {
        self.pages.push(page);
        self
    }

    /// Sets the column headers of a multi-item result.
    pub fn reported(mut self, columns: Vec<Field>) -> Self {
        self.reported = Some(columns);
        self
    }

    /// Adds a row to a multi-item result.
    pub fn item(mut self, row: Vec<Field>) -> Self {
        self.items.push(row);
        self
    }

    /// The FORM_TYPE value, if the form has one.
    pub fn form_type(&self) -> Option<&str> {
        self.value(FORM_TYPE)
    }

    /// The field `var`.
    pub fn get(&self, var: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.var.as_deref() == Some(var))
    }

    /// The first value of field `var`.
    pub fn value(&self, var: &str) -> Option<&str> {
        self.get(var).and_then(|f| f.values.first()).map(String::as_str)
    }

    /// All values of field `var`; empty when it is absent.
    pub fn values(&self, var: &str) -> &[String] {
        self.get(var).map_or(&[], |f| f.values.as_slice())
    }

    /// The `<x xmlns='jabber:x:data'/>` element.
    pub fn to_element(&self) -> Element {
        let mut x = Element::new("x", ns::DATA_FORMS).with_attr("type", self.kind.as_str());
        if let Some(t) = &self.title {
            x.push_child(Element::new("title", ns::DATA_FORMS).with_text(t.clone()));
        }
        for i in &self.instructions {
            x.push_child(Element::new("instructions", ns::DATA_FORMS).with_text(i.clone()));
        }
        for p in &self.pages {
            x.push_child(p.to_element("page"));
        }
        for f in &self.fields {
            x.push_child(f.to_element());
        }
        if let Some(cols) = &self.reported {
            let mut r = Element::new("reported", ns::DATA_FORMS);
            for f in cols {
                r.push_child(f.to_element());
            }
            x.push_child(r);
        }
        for row in &self.items {
            let mut item = Element::new("item", ns::DATA_FORMS);
            for f in row {
                item.push_child(f.to_element());
            }
            x.push_child(item);
        }
        x
    }

    /// Reads an `<x xmlns='jabber:x:data'/>`; anything malformed is `bad-request`.
    pub fn from_element(x: &Element) -> Result<DataForm, StanzaError> {
        if !x.is("x", ns::DATA_FORMS) {
            return Err(bad_request("not a data form"));
        }
        let kind = x
            .attr("type")
            .and_then(FormKind::from_name)
            .ok_or_else(|| bad_request("data form type missing or unknown"))?;
        let mut form = DataForm::new(kind);
        for child in x.elements() {
            match (child.ns.as_str(), child.name.as_str()) {
                (ns::DATA_FORMS, "title") => form.title = Some(child.text()),
                (ns::DATA_FORMS, "instructions") => form.instructions.push(child.text()),
                (ns::DATA_FORMS, "field") => form.fields.push(Field::from_element(child)?),
                (ns::DATA_FORMS, "reported") => form.reported = Some(fields_of(child)?),
                (ns::DATA_FORMS, "item") => form.items.push(fields_of(child)?),
                (LAYOUT_NS, "page") => form.pages.push(Layout::from_element(child, 0)?),
                // Other extensions (media, validation) ride along unread.
                _ => {}
            }
        }
        Ok(form)
    }

    /// The first data form among `parent`'s children, if any.
    pub fn find_in(parent: &Element) -> Option<Result<DataForm, StanzaError>> {
        parent.child("x", ns::DATA_FORMS).map(DataForm::from_element)
    }
}

fn fields_of(el: &Element) -> Result<Vec<Field>, StanzaError> {
    el.elements().filter(|e| e.is("field", ns::DATA_FORMS)).map(Field::from_element).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_type_is_hidden_and_first() {
        let f =
            DataForm::result().field(Field::text_single("a", "1")).with_form_type("urn:one").with_form_type("urn:two");
        assert_eq!(f.fields[0].kind, Some(FieldType::Hidden));
        assert_eq!(f.form_type(), Some("urn:two"));
        assert_eq!(f.fields.len(), 2);
        let xml = f.to_element().to_xml();
        assert_eq!(
            xml,
            "<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>urn:two</value></field>\
             <field var='a' type='text-single'><value>1</value></field></x>"
        );
    }

    #[test]
    fn round_trips_a_complete_form() {
        let form = DataForm::form()
            .title("Config")
            .instructions("Fill it in")
            .with_form_type("urn:cfg")
            .page(Layout::new("Main").text("Basics").fieldref("name").section(Layout::new("More").fieldref("admins")))
            .field(Field::text_single("name", "room").label("Name").required())
            .field(Field::new("admins", FieldType::JidMulti).value("a@b").value("c@d").desc("Admins"))
            .field(Field::list_single("level", "2").option("Low", "1").option("High", "2"))
            .field(Field::boolean("public", true))
            .reported(vec![Field::new("jid", FieldType::JidSingle).label("JID")])
            .item(vec![Field::text_single("jid", "x@y")]);
        let el = form.to_element();
        let back = DataForm::from_element(&Element::parse(&el.to_xml()).unwrap()).unwrap();
        assert_eq!(back, form);
        assert_eq!(back.values("admins"), ["a@b".to_string(), "c@d".to_string()]);
        assert_eq!(back.get("public").and_then(Field::bool_value), Some(true));
        assert_eq!(back.get("level").map(|f| f.options.len()), Some(2));
        assert!(back.get("name").is_some_and(|f| f.required));
        assert_eq!(back.values("missing"), [] as [String; 0]);
    }

    #[test]
    fn refuses_malformed_forms() {
        for xml in [
            "<x xmlns='jabber:x:data'/>",
            "<x xmlns='jabber:x:data' type='bogus'/>",
            "<y xmlns='jabber:x:data' type='form'/>",
            "<x xmlns='jabber:x:data' type='form'><field var='a' type='nope'/></x>",
        ] {
            let el = Element::parse(xml).unwrap();
            let err = DataForm::from_element(&el).unwrap_err();
            assert_eq!(err.condition, StanzaErrorCondition::BadRequest, "{xml}");
        }
    }

    #[test]
    fn finds_a_form_in_a_payload() {
        let q = Element::parse(
            "<command xmlns='http://jabber.org/protocol/commands'><x xmlns='jabber:x:data' type='submit'>\
             <field var='FORM_TYPE'><value>urn:s</value></field></x></command>",
        )
        .unwrap();
        let form = DataForm::find_in(&q).unwrap().unwrap();
        assert_eq!(form.kind, FormKind::Submit);
        assert_eq!(form.form_type(), Some("urn:s"));
        assert!(DataForm::find_in(&Element::new("q", "urn:x")).is_none());
    }
}
