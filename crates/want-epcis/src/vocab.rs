//! CBV 2.0 vocabularies: bare / URN / URI forms normalised to the bare term.

use crate::vocab_data::*;

/// One controlled vocabulary.
pub(crate) struct Vocab {
    pub terms: &'static [&'static str],
    pub urn: Option<&'static str>,
    pub uri: &'static str,
    /// Compact (CURIE) prefix accepted as a standard form; None everywhere: the reference hash
    /// tool hashes CURIEs like `cbv:Comp-x` literally, so they are kept verbatim.
    pub compact: Option<&'static str>,
}

pub(crate) const BIZ_STEP: Vocab = Vocab {
    terms: BIZ_STEPS,
    urn: Some("urn:epcglobal:cbv:bizstep:"),
    uri: "https://ref.gs1.org/cbv/BizStep-",
    compact: None,
};
pub(crate) const DISPOSITION: Vocab = Vocab {
    terms: DISPOSITIONS,
    urn: Some("urn:epcglobal:cbv:disp:"),
    uri: "https://ref.gs1.org/cbv/Disp-",
    compact: None,
};
pub(crate) const BTT: Vocab = Vocab {
    terms: BIZ_TRANSACTION_TYPES,
    urn: Some("urn:epcglobal:cbv:btt:"),
    uri: "https://ref.gs1.org/cbv/BTT-",
    compact: None,
};
pub(crate) const SDT: Vocab = Vocab {
    terms: SOURCE_DEST_TYPES,
    urn: Some("urn:epcglobal:cbv:sdt:"),
    uri: "https://ref.gs1.org/cbv/SDT-",
    compact: None,
};
pub(crate) const ERROR_REASON: Vocab = Vocab {
    terms: ERROR_REASONS,
    urn: Some("urn:epcglobal:cbv:er:"),
    uri: "https://ref.gs1.org/cbv/ER-",
    compact: None,
};
pub(crate) const MEASUREMENT: Vocab = Vocab {
    terms: MEASUREMENT_TYPES,
    urn: None,
    uri: "https://gs1.org/voc/",
    compact: None,
};
pub(crate) const ALERT: Vocab = Vocab {
    terms: SENSOR_ALERT_TYPES,
    urn: None,
    uri: "https://gs1.org/voc/",
    compact: None,
};
pub(crate) const COMPONENT: Vocab = Vocab {
    terms: COMPONENTS,
    urn: None,
    uri: "https://ref.gs1.org/cbv/Comp-",
    compact: None,
};

impl Vocab {
    fn is_term(&self, s: &str) -> bool {
        self.terms.binary_search(&s).is_ok()
    }

    /// Bare term for standard values (any form), custom absolute URIs verbatim, Err otherwise.
    pub(crate) fn normalise(&self, v: &str) -> Result<String, String> {
        if self.is_term(v) {
            return Ok(v.to_string());
        }
        for p in [self.urn, Some(self.uri), self.compact]
            .into_iter()
            .flatten()
        {
            if let Some(rest) = v.strip_prefix(p) {
                if self.is_term(rest) {
                    return Ok(rest.to_string());
                }
                if Some(p) == self.urn {
                    return Err(format!("{v:?} is not a standard CBV term"));
                }
            }
        }
        if crate::ids::is_absolute_uri(v) {
            Ok(v.to_string())
        } else {
            Err(format!(
                "{v:?} is neither a standard CBV term nor an absolute URI"
            ))
        }
    }

    /// Full web-vocabulary URI of a normalised value if it is a standard term.
    pub(crate) fn full_uri(&self, v: &str) -> Option<String> {
        self.is_term(v).then(|| format!("{}{v}", self.uri))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bizstep_forms_normalise_to_bare_term() {
        for f in [
            "shipping",
            "urn:epcglobal:cbv:bizstep:shipping",
            "https://ref.gs1.org/cbv/BizStep-shipping",
        ] {
            assert_eq!(BIZ_STEP.normalise(f).unwrap(), "shipping");
        }
        assert_eq!(
            BIZ_STEP.normalise("https://example.com/step").unwrap(),
            "https://example.com/step"
        );
        assert!(BIZ_STEP.normalise("shippin").is_err());
        assert!(BIZ_STEP
            .normalise("urn:epcglobal:cbv:bizstep:bogus")
            .is_err());
    }

    #[test]
    fn vocabulary_tables_are_sorted() {
        for v in [
            &BIZ_STEP,
            &DISPOSITION,
            &BTT,
            &SDT,
            &ERROR_REASON,
            &MEASUREMENT,
            &ALERT,
            &COMPONENT,
        ] {
            assert!(v.terms.windows(2).all(|w| w[0] < w[1]));
        }
    }

    mod parsers {
        use super::super::*;
        use crate::fuzz_inputs::mutated;
        use proptest::prelude::*;

        fn vocabs() -> [&'static Vocab; 8] {
            [
                &BIZ_STEP,
                &DISPOSITION,
                &BTT,
                &SDT,
                &ERROR_REASON,
                &MEASUREMENT,
                &ALERT,
                &COMPONENT,
            ]
        }

        /// A term of a vocabulary in one of its forms.
        fn term() -> impl Strategy<Value = (usize, String)> {
            (0usize..8, any::<prop::sample::Index>(), 0u8..3).prop_map(|(v, i, form)| {
                let voc = vocabs()[v];
                let t = voc.terms[i.index(voc.terms.len())];
                let s = match (form, voc.urn, voc.compact) {
                    (1, Some(u), _) => format!("{u}{t}"),
                    (2, _, Some(c)) => format!("{c}{t}"),
                    _ => format!("{}{t}", voc.uri),
                };
                (v, s)
            })
        }

        proptest! {
            #[test]
            fn any_text_is_a_term_a_uri_or_refused(v in 0usize..8, s in prop_oneof!["\\PC{0,60}", mutated(term().prop_map(|t| t.1))]) {
                let voc = vocabs()[v];
                if let Ok(n) = voc.normalise(&s) {
                    // Idempotent, and a bare term comes back from its full URI.
                    prop_assert_eq!(voc.normalise(&n), Ok(n.clone()));
                    if let Some(full) = voc.full_uri(&n) {
                        prop_assert_eq!(voc.normalise(&full), Ok(n.clone()));
                    }
                }
            }

            #[test]
            fn every_form_of_a_term_normalises_to_the_bare_term((v, s) in term()) {
                let voc = vocabs()[v];
                let n = voc.normalise(&s).unwrap();
                prop_assert!(voc.is_term(&n), "{} -> {}", s, n);
                prop_assert_eq!(voc.full_uri(&n).map(|u| voc.normalise(&u)), Some(Ok(n)));
            }
        }
    }
}
