//! UltraCart's OAuth permission catalogue (`ultraCartOauth` scopes), in UltraCart's order,
//! with UltraCart's descriptions. Unknown but well-formed scope names are still accepted by the
//! server; this list is what the pages offer and describe.

/// `(scope, description)` pairs.
pub const CATALOGUE: &[(&str, &str)] = &[
    (
        "affiliate_read",
        "Allows you to read affiliate information.",
    ),
    (
        "affiliate_write",
        "Allows you to write affiliate information.",
    ),
    (
        "auto_order_read",
        "Allows you to read auto order information.",
    ),
    (
        "auto_order_write",
        "Allows you to write auto order information.",
    ),
    (
        "channel_partner_read",
        "Allows you to read channel partner information.",
    ),
    (
        "channel_partner_write",
        "Allows you to write channel partner information.",
    ),
    (
        "chargeback_read",
        "Allows you to read chargeback information.",
    ),
    (
        "chargeback_write",
        "Allows you to write chargeback information.",
    ),
    ("checkout_read", "Allows you to read checkout information."),
    (
        "checkout_write",
        "Allows you to write checkout information.",
    ),
    (
        "configuration_read",
        "Allows you to read configuration information.",
    ),
    (
        "configuration_write",
        "Allows you to write configuration information.",
    ),
    (
        "conversation_read",
        "Allows you to read conversation information.",
    ),
    (
        "conversation_write",
        "Allows you to write conversation information.",
    ),
    ("coupon_read", "Allows you to read coupon information."),
    ("coupon_write", "Allows you to write coupon information."),
    ("customer_read", "Allows you to read customer information."),
    (
        "customer_write",
        "Allows you to write customer information.",
    ),
    (
        "fulfillment_read",
        "Allows you to read fulfillment information.",
    ),
    (
        "fulfillment_write",
        "Allows you to write fulfillment information.",
    ),
    (
        "gift_certificate_read",
        "Allows you to read gift certificate information.",
    ),
    (
        "gift_certificate_write",
        "Allows you to write gift certificate information.",
    ),
    (
        "integration_log_read",
        "Allows you to read integration log information.",
    ),
    (
        "integration_log_write",
        "Allows you to write integration log information.",
    ),
    ("order_read", "Allows you to read order information."),
    ("order_write", "Allows you to write order information."),
    ("item_read", "Allows you to read item information."),
    ("item_write", "Allows you to write item information."),
    (
        "storefront_read",
        "Allows you to read storefront information.",
    ),
    (
        "storefront_write",
        "Allows you to write storefront information.",
    ),
    (
        "tax_read",
        "Allows you to read tax configuration information.",
    ),
    (
        "tax_write",
        "Allows you to write tax configuration information.",
    ),
    ("webhook_read", "Allows you to read webhook information."),
    ("webhook_write", "Allows you to write webhook information."),
    ("ultrabooks_read", "1 of 2 required to use UltraBooks"),
    ("ultrabooks_write", "2 of 2 required to use UltraBooks"),
    ("user_read", "Allows you to read user information."),
    ("user_write", "Allows you to write user information."),
    ("workflow_read", "Allows you to read workflow information."),
    (
        "workflow_write",
        "Allows you to write workflow information.",
    ),
];

/// The catalogue description of `scope`, if it is a known UltraCart permission.
pub fn describe(scope: &str) -> Option<&'static str> {
    CATALOGUE
        .iter()
        .find(|(name, _)| *name == scope)
        .map(|(_, description)| *description)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_has_the_forty_documented_scopes_without_duplicates() {
        assert_eq!(CATALOGUE.len(), 40);
        let mut names: Vec<_> = CATALOGUE.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 40);
    }

    #[test]
    fn describe_knows_item_read_and_not_made_up_names() {
        assert_eq!(
            describe("item_read"),
            Some("Allows you to read item information.")
        );
        assert_eq!(describe("datawarehouse_read"), None);
    }
}
