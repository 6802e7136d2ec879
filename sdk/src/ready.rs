//! What `init` settles once it has the config: the stream features to offer.
//! Since 2.0 they are no longer disco features that start with `<`.

use crate::Stage;
use crate::bindings::waxwing::plugin::types as wit;

/// What [`crate::Plugin::init`] returns: `Ready::new()` when the plugin
/// offers no stream features, else one [`stream_feature`](Self::stream_feature)
/// per element.
///
/// ```ignore
/// fn init(config: &Json) -> Result<Ready, String> {
///     let open = config.require_bool("allow_registration")?;
///     let ready = Ready::new();
///     Ok(if open { ready.stream_feature(REGISTER_FEATURE, Stage::BeforeAuth) } else { ready })
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready(wit::Ready);

impl Default for Ready {
    fn default() -> Self {
        Ready(wit::Ready { stream_features: Vec::new() })
    }
}

impl Ready {
    /// Nothing to offer on the stream.
    pub fn new() -> Self {
        Ready::default()
    }

    /// Offers the serialized element `xml` (`<ver
    /// xmlns='urn:xmpp:features:rosterver'/>`) in `<stream:features/>` at
    /// `stage`: before authentication (XEP-0077's `<register/>`) or with
    /// resource binding. An [`crate::Element`] goes in as `el.to_xml()`.
    pub fn stream_feature(mut self, xml: impl Into<String>, stage: Stage) -> Self {
        self.0.stream_features.push(wit::StreamFeature { xml: xml.into(), stage });
        self
    }

    /// The features declared so far.
    pub fn stream_features(&self) -> &[wit::StreamFeature] {
        &self.0.stream_features
    }

    /// The record as it crosses to the kernel.
    pub fn into_wit(self) -> wit::Ready {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_features_with_their_stage() {
        let r =
            Ready::new().stream_feature("<ver xmlns='urn:xmpp:features:rosterver'/>", Stage::AfterAuth).stream_feature(
                String::from("<register xmlns='http://jabber.org/features/iq-register'/>"),
                Stage::BeforeAuth,
            );
        assert_eq!(r.stream_features().len(), 2);
        let w = r.into_wit();
        assert_eq!(w.stream_features[0].stage, Stage::AfterAuth);
        assert!(w.stream_features[1].xml.starts_with("<register"));
        assert!(Ready::new().into_wit().stream_features.is_empty());
    }
}
