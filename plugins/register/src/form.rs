//! The answers to a `get`: the registration form (XEP-0077 §3.1, with a
//! XEP-0158 challenge when the operator set questions) and the "already
//! registered" reply.

use waxwing_sdk::forms::{DataForm, Field, FieldType};
use waxwing_sdk::prelude::*;

use crate::captcha::NS_CAPTCHA;
use crate::query::NS_REGISTER;

/// A challenge to put in the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptchaPrompt<'a> {
    pub id: &'a str,
    pub question: &'a str,
    /// XEP-0158 `sid`: the id of the iq that asked for the form.
    pub sid: &'a str,
}

pub fn registration_form(instructions: &str, captcha: Option<&CaptchaPrompt<'_>>) -> Element {
    let mut query = Element::new("query", NS_REGISTER).with_child(text("instructions", instructions));
    let mut form = DataForm::form().title("Account registration").instructions(instructions);
    match captcha {
        None => {
            // Legacy fields only when they are enough to register: with a
            // challenge, a client that cannot read the form cannot pass it.
            query.push_child(Element::new("username", NS_REGISTER));
            query.push_child(Element::new("password", NS_REGISTER));
            form = form.with_form_type(NS_REGISTER);
        }
        Some(c) => {
            form = form
                .with_form_type(NS_CAPTCHA)
                .field(Field::hidden("challenge", c.id))
                .field(Field::hidden("sid", c.sid))
                .field(Field::new("qa", FieldType::TextSingle).label(c.question).required());
        }
    }
    form = form
        .field(Field::new("username", FieldType::TextSingle).label("Username").required())
        .field(Field::new("password", FieldType::TextPrivate).label("Password").required());
    query.push_child(form.to_element());
    query
}

/// XEP-0077 §3.1: an entity that is registered learns so, and under which name.
pub fn registered(username: &str) -> Element {
    Element::new("query", NS_REGISTER)
        .with_child(Element::new("registered", NS_REGISTER))
        .with_child(text("username", username))
}

fn text(name: &str, value: &str) -> Element {
    Element::new(name, NS_REGISTER).with_text(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form_of(query: &Element) -> DataForm {
        DataForm::find_in(query).expect("a data form").expect("a readable data form")
    }

    #[test]
    fn plain_form_has_legacy_fields_and_a_register_form() {
        let q = registration_form("Pick a name", None);
        assert_eq!(q.child("instructions", NS_REGISTER).map(Element::text).as_deref(), Some("Pick a name"));
        assert!(q.child("username", NS_REGISTER).is_some() && q.child("password", NS_REGISTER).is_some());
        let form = form_of(&q);
        assert_eq!(form.form_type(), Some(NS_REGISTER));
        assert_eq!(form.get("password").and_then(|f| f.kind), Some(FieldType::TextPrivate));
        assert!(form.get("username").is_some_and(|f| f.required));
        assert!(form.get("qa").is_none());
    }

    #[test]
    fn captcha_form_carries_the_challenge() {
        let prompt = CaptchaPrompt { id: "c0ffee", question: "What is 2+2?", sid: "reg1" };
        let q = registration_form("Pick a name", Some(&prompt));
        assert!(q.child("username", NS_REGISTER).is_none());
        let form = form_of(&q);
        assert_eq!(form.form_type(), Some(NS_CAPTCHA));
        assert_eq!(form.value("challenge"), Some("c0ffee"));
        assert_eq!(form.get("challenge").and_then(|f| f.kind), Some(FieldType::Hidden));
        assert_eq!(form.value("sid"), Some("reg1"));
        let qa = form.get("qa").expect("a qa field");
        assert_eq!(qa.label.as_deref(), Some("What is 2+2?"));
        assert!(qa.required && qa.values.is_empty());
        assert!(form.get("username").is_some() && form.get("password").is_some());
    }

    #[test]
    fn registered_names_the_account() {
        let q = registered("juliet");
        assert!(q.child("registered", NS_REGISTER).is_some());
        assert_eq!(q.child("username", NS_REGISTER).map(Element::text).as_deref(), Some("juliet"));
    }
}
