//! XEP-0141 data form layout: pages and sections that point at fields.

use waxwing_xml::{Element, StanzaError};

use super::bad_request;

/// The XEP-0141 namespace.
pub const LAYOUT_NS: &str = "http://jabber.org/protocol/xdata-layout";

/// Sections nest; this bounds it so a hostile form cannot recurse deeply.
const MAX_NESTING: usize = 16;

/// A page (at the top) or a section (inside one): a label and content in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The page's or section's label.
    pub label: Option<String>,
    /// What it shows, in order.
    pub content: Vec<LayoutItem>,
}

/// One thing a page or section shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutItem {
    /// A paragraph of text.
    Text(String),
    /// The field with this var.
    FieldRef(String),
    /// The multi-item result's table.
    ReportedRef,
    /// A nested section.
    Section(Layout),
}

impl Layout {
    /// An empty page or section; "" for no label.
    pub fn new(label: &str) -> Self {
        let label = (!label.is_empty()).then(|| label.to_string());
        Layout { label, content: Vec::new() }
    }

    /// Adds a paragraph.
    pub fn text(mut self, text: &str) -> Self {
        self.content.push(LayoutItem::Text(text.to_string()));
        self
    }

    /// Shows the field `var` here.
    pub fn fieldref(mut self, var: &str) -> Self {
        self.content.push(LayoutItem::FieldRef(var.to_string()));
        self
    }

    /// Shows the multi-item table here.
    pub fn reportedref(mut self) -> Self {
        self.content.push(LayoutItem::ReportedRef);
        self
    }

    /// Adds a nested section.
    pub fn section(mut self, section: Layout) -> Self {
        self.content.push(LayoutItem::Section(section));
        self
    }

    /// Every field var this layout refers to, sections included.
    pub fn fieldrefs(&self) -> Vec<&str> {
        let mut out = Vec::new();
        for item in &self.content {
            match item {
                LayoutItem::FieldRef(v) => out.push(v.as_str()),
                LayoutItem::Section(s) => out.extend(s.fieldrefs()),
                _ => {}
            }
        }
        out
    }

    /// `name` is "page" or "section".
    pub(crate) fn to_element(&self, name: &str) -> Element {
        let mut el = Element::new(name, LAYOUT_NS);
        if let Some(l) = &self.label {
            el.set_attr("label", l.clone());
        }
        for item in &self.content {
            el.push_child(match item {
                LayoutItem::Text(t) => Element::new("text", LAYOUT_NS).with_text(t.clone()),
                LayoutItem::FieldRef(v) => Element::new("fieldref", LAYOUT_NS).with_attr("var", v.clone()),
                LayoutItem::ReportedRef => Element::new("reportedref", LAYOUT_NS),
                LayoutItem::Section(s) => s.to_element("section"),
            });
        }
        el
    }

    pub(crate) fn from_element(el: &Element, depth: usize) -> Result<Layout, StanzaError> {
        if depth > MAX_NESTING {
            return Err(bad_request("form layout nested too deeply"));
        }
        let mut layout = Layout { label: el.attr("label").map(str::to_owned), content: Vec::new() };
        for child in el.elements().filter(|c| c.ns == LAYOUT_NS) {
            let item = match child.name.as_str() {
                "text" => LayoutItem::Text(child.text()),
                "fieldref" => LayoutItem::FieldRef(
                    child.attr("var").ok_or_else(|| bad_request("fieldref without var"))?.to_string(),
                ),
                "reportedref" => LayoutItem::ReportedRef,
                "section" => LayoutItem::Section(Layout::from_element(child, depth + 1)?),
                _ => continue,
            };
            layout.content.push(item);
        }
        Ok(layout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_pages_and_sections_in_order() {
        let page = Layout::new("P").text("intro").section(Layout::new("S").fieldref("b").reportedref()).fieldref("a");
        assert_eq!(
            page.to_element("page").to_xml(),
            "<page xmlns='http://jabber.org/protocol/xdata-layout' label='P'><text>intro</text>\
             <section label='S'><fieldref var='b'/><reportedref/></section><fieldref var='a'/></page>"
        );
        assert_eq!(page.fieldrefs(), ["b", "a"]);
    }

    #[test]
    fn refuses_fieldref_without_var_and_deep_nesting() {
        let el = Element::parse("<page xmlns='http://jabber.org/protocol/xdata-layout'><fieldref/></page>").unwrap();
        assert!(Layout::from_element(&el, 0).is_err());
        let mut deep = Layout::new("leaf");
        for _ in 0..=MAX_NESTING + 1 {
            deep = Layout::new("s").section(deep);
        }
        assert!(Layout::from_element(&deep.to_element("page"), 0).is_err());
    }
}
