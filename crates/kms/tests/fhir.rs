//! FHIR field-level protection on fixtures kept in the repository (the test over the
//! real shared data runs through the binary, in the CLI's tests).

mod common;

use common::{new_key, unsealed};
use proptest::prelude::*;
use serde_json::Value;
use webqx_kms::fhir::{PROTECTED_URL, Policy, SEARCH_URL};
use webqx_kms::{KeyType, KmsError};
use webqx_testkit::test_stores;

const PHI: &[&str] = &[
    "Zelda",
    "Quartermaine",
    "Marisol",
    "Pennywhistle",
    "Hollowbrook",
    "Tumbleweed Flats",
    "999-41-7788",
    "MRN-00417",
    "555-010-4477",
    "zq@example.invalid",
    "1961-07-14",
    "2021-02-03",
    "Larkspur",
    "Quillfield",
    "89021",
    "36.1234500",
    "iVBORw0KGgo",
    "Ophelia",
    "555-010-9911",
    "Thistle",
    "Bramblewood",
    "Ignatius",
    "Fernsby",
    "1958-01-30",
];

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/bundle.json")).unwrap()
}

async fn ready(config: &webqx_store::StoreConfig, label: &'static str) -> common::Env {
    let env = unsealed(config, label).await;
    env.kms
        .create_key(&env.ctx, &new_key("fhir-phi", KeyType::Aes256Gcm))
        .await
        .unwrap();
    env.kms
        .create_key(&env.ctx, &new_key("fhir-search", KeyType::Aes256Siv))
        .await
        .unwrap();
    env
}

#[tokio::test]
async fn protect_hides_every_phi_value_and_unprotect_restores_exactly() {
    for t in test_stores() {
        let env = ready(&t.config, t.label).await;
        let policy = Policy::default();
        let original = fixture();
        let mut items = vec![original.clone()];
        let stats = env
            .kms
            .fhir_protect(&env.ctx, &policy, &mut items)
            .await
            .unwrap();
        assert!(stats[0].as_ref().unwrap().elements >= 20, "{stats:?}");
        let text = serde_json::to_string(&items[0]).unwrap();
        for phi in PHI {
            assert!(
                !text.contains(phi),
                "{}: '{phi}' still visible in {text}",
                t.label
            );
        }
        // Structure stays FHIR: the Patient keeps resourceType, id, gender, and the
        // protected primitives move into `_element` extensions.
        let patient = &items[0]["entry"][0]["resource"];
        assert_eq!(patient["resourceType"], "Patient");
        assert_eq!(patient["gender"], "female");
        assert!(patient.get("birthDate").is_none());
        assert_eq!(
            patient["_birthDate"]["extension"].as_array().unwrap().len(),
            1,
            "birth time hidden too"
        );
        assert_eq!(patient["_birthDate"]["extension"][0]["url"], PROTECTED_URL);
        assert_eq!(patient["name"][0]["extension"][0]["url"], PROTECTED_URL);
        assert_eq!(patient["text"]["status"], "generated");
        assert!(
            patient["text"]["div"]
                .as_str()
                .unwrap()
                .starts_with("<div xmlns=")
        );
        assert_eq!(
            patient["identifier"][0]["system"],
            "http://hl7.org/fhir/sid/us-ssn"
        );
        assert_eq!(patient["identifier"][0]["extension"][0]["url"], SEARCH_URL);
        assert_eq!(
            patient["extension"][2]["valueBoolean"], true,
            "unrelated extension untouched"
        );

        let mut back = items.clone();
        env.kms
            .fhir_unprotect(&env.ctx, &policy, &mut back)
            .await
            .unwrap()[0]
            .as_ref()
            .unwrap();
        assert_eq!(
            serde_json::to_string(&back[0]).unwrap(),
            serde_json::to_string(&original).unwrap(),
            "{}: exact",
            t.label
        );
        env.audit_ok().await;
    }
}

#[tokio::test]
async fn identifiers_are_searchable_by_equality() {
    for t in test_stores() {
        let env = ready(&t.config, t.label).await;
        let policy = Policy::default();
        let mut a = vec![fixture(), fixture()];
        env.kms
            .fhir_protect(&env.ctx, &policy, &mut a)
            .await
            .unwrap();
        let ssn = |v: &Value| {
            v["entry"][0]["resource"]["identifier"][0]["value"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(ssn(&a[0]), ssn(&a[1]));
        assert!(ssn(&a[0]).starts_with("wqx1:"));
        let name =
            |v: &Value| v["entry"][0]["resource"]["name"][0]["extension"][0]["valueString"].clone();
        assert_ne!(name(&a[0]), name(&a[1]), "names are randomized");
        // What an EHR computes to search: the same value under the search key, with the
        // system as context.
        let ct = env
            .encrypt1(
                "fhir-search",
                "999-41-7788",
                "fhir-search:http://hl7.org/fhir/sid/us-ssn",
            )
            .await;
        assert_eq!(ct, ssn(&a[0]));
    }
}

#[tokio::test]
async fn moved_tampered_or_foreign_ciphertexts_are_refused_with_their_location() {
    for t in test_stores() {
        let env = ready(&t.config, t.label).await;
        env.kms
            .create_key(&env.ctx, &new_key("other", KeyType::Aes256Gcm))
            .await
            .unwrap();
        let policy = Policy::default();
        let mut items = vec![fixture()];
        env.kms
            .fhir_protect(&env.ctx, &policy, &mut items)
            .await
            .unwrap();

        // Move the encrypted maiden name into the official name's slot.
        let mut moved = items.clone();
        let patient = &mut moved[0]["entry"][0]["resource"];
        let birth = patient["_birthDate"]["extension"][0]["valueString"].clone();
        patient["name"][0]["extension"][0]["valueString"] = birth;
        let before = moved.clone();
        let out = env
            .kms
            .fhir_unprotect(&env.ctx, &policy, &mut moved)
            .await
            .unwrap();
        let err = out[0].as_ref().unwrap_err();
        assert_eq!(err.location, "Patient.name", "{}", t.label);
        assert!(matches!(err.error, KmsError::Decrypt));
        assert_eq!(moved, before, "a failed item is left as it was");

        // A ciphertext of a key outside the policy: no decryption oracle for other keys.
        let foreign = env.encrypt1("other", "\"x\"", "fhir:Patient.name").await;
        let mut sneaky = items.clone();
        sneaky[0]["entry"][0]["resource"]["name"][0]["extension"][0]["valueString"] =
            foreign.into();
        let out = env
            .kms
            .fhir_unprotect(&env.ctx, &policy, &mut sneaky)
            .await
            .unwrap();
        assert!(matches!(
            out[0].as_ref().unwrap_err().error,
            KmsError::Decrypt
        ));
    }
}

#[tokio::test]
async fn non_resources_fail_item_by_item() {
    for t in test_stores() {
        let env = ready(&t.config, t.label).await;
        let policy = Policy::default();
        let mut items = vec![
            serde_json::json!({"name": "no type"}),
            serde_json::json!([1, 2]),
            fixture(),
        ];
        let out = env
            .kms
            .fhir_protect(&env.ctx, &policy, &mut items)
            .await
            .unwrap();
        assert!(out[0].is_err() && out[1].is_err() && out[2].is_ok());
        assert!(
            out[0]
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("resourceType")
        );
        let mut deep = serde_json::json!({"resourceType": "Basic"});
        for _ in 0..100 {
            deep = serde_json::json!({"resourceType": "Basic", "contained": [deep]});
        }
        let out = env
            .kms
            .fhir_protect(&env.ctx, &policy, &mut [deep])
            .await
            .unwrap();
        assert!(
            out[0]
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("nested deeper")
        );
        env.kms.disable_key(&env.ctx, "fhir-phi").await.unwrap();
        let err = env
            .kms
            .fhir_protect(&env.ctx, &policy, &mut [fixture()])
            .await
            .unwrap_err();
        assert!(matches!(err, KmsError::KeyDisabled(_)), "{err}");
    }
}

#[tokio::test]
async fn input_that_already_carries_our_extensions_is_refused() {
    for t in test_stores() {
        let env = ready(&t.config, t.label).await;
        let policy = Policy::default();
        let forged = [
            // A "protected" name whose value is plain text: protect would pass it through.
            serde_json::json!({"resourceType": "Patient", "name": [{"extension": [{"url": PROTECTED_URL, "valueString": "John Q Public"}]}]}),
            // An SSN marked as already protected for search.
            serde_json::json!({"resourceType": "Patient", "identifier": [{"extension": [{"url": SEARCH_URL, "valueString": "value"}], "system": "http://hl7.org/fhir/sid/us-ssn", "value": "999-12-3456"}]}),
        ];
        for bad in forged {
            let mut items = vec![bad.clone()];
            let out = env
                .kms
                .fhir_protect(&env.ctx, &policy, &mut items)
                .await
                .unwrap();
            let err = out[0].as_ref().unwrap_err();
            assert!(
                err.to_string().contains("already carries"),
                "{}: {err}",
                t.label
            );
            assert_eq!(items[0], bad, "left as it was");
        }
        // Protecting twice is refused too (unprotect first).
        let mut items = vec![fixture()];
        env.kms
            .fhir_protect(&env.ctx, &policy, &mut items)
            .await
            .unwrap();
        let again = env
            .kms
            .fhir_protect(&env.ctx, &policy, &mut items.clone())
            .await
            .unwrap();
        assert!(again[0].is_err());
    }
}

#[tokio::test]
async fn a_dotted_key_cannot_borrow_a_nested_elements_ciphertext_and_rewrap_never_reveals() {
    for t in test_stores() {
        let env = ready(&t.config, t.label).await;
        let policy = Policy::default();
        let mut items = vec![fixture()];
        env.kms
            .fhir_protect(&env.ctx, &policy, &mut items)
            .await
            .unwrap();
        // Move Patient.contact[0].name's wrapper under a top-level key "contact.name".
        let mut moved = items.clone();
        let patient = moved[0]["entry"][0]["resource"].as_object_mut().unwrap();
        let wrapper = patient["contact"][0]["name"].clone();
        patient.insert("contact.name".into(), wrapper);
        for out in [
            env.kms
                .fhir_unprotect(&env.ctx, &policy, &mut moved.clone())
                .await
                .unwrap(),
            env.kms
                .fhir_rewrap(&env.ctx, &policy, &mut moved.clone())
                .await
                .unwrap(),
        ] {
            assert!(
                matches!(out[0].as_ref().unwrap_err().error, KmsError::Decrypt),
                "{}",
                t.label
            );
        }
        // Rewrap re-encrypts in place: same shape, new ciphertexts, no PHI.
        env.kms.rotate_key(&env.ctx, "fhir-phi").await.unwrap();
        env.kms.rotate_key(&env.ctx, "fhir-search").await.unwrap();
        let mut rewrapped = items.clone();
        env.kms
            .fhir_rewrap(&env.ctx, &policy, &mut rewrapped)
            .await
            .unwrap()[0]
            .as_ref()
            .unwrap();
        let text = serde_json::to_string(&rewrapped[0]).unwrap();
        assert_ne!(rewrapped, items);
        for phi in PHI {
            assert!(!text.contains(phi), "{phi} after rewrap");
        }
        let mut back = rewrapped.clone();
        env.kms
            .fhir_unprotect(&env.ctx, &policy, &mut back)
            .await
            .unwrap()[0]
            .as_ref()
            .unwrap();
        assert_eq!(
            serde_json::to_string(&back[0]).unwrap(),
            serde_json::to_string(&fixture()).unwrap()
        );
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-zA-Z0-9 .:-]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("name".to_string()),
                        Just("display".to_string()),
                        Just("reference".to_string()),
                        Just("text".to_string()),
                        Just("birthDate".to_string()),
                        Just("_birthDate".to_string()),
                        Just("telecom".to_string()),
                        Just("value".to_string()),
                        Just("extension".to_string()),
                        "[a-z]{1,6}"
                    ],
                    inner
                ),
                0..5
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn protect_then_unprotect_is_identity_or_a_clean_error(body in arb_json(), rt in prop_oneof![Just("Patient"), Just("Observation"), Just("Basic")]) {
        let rt_value = Value::from(rt);
        let resource = match body {
            Value::Object(mut m) => { m.insert("resourceType".into(), rt_value); Value::Object(m) }
            other => serde_json::json!({"resourceType": rt, "contained": [other]}),
        };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let stores = test_stores();
            let env = ready(&stores[0].config, "sqlite").await;
            let policy = Policy::default();
            let mut items = vec![resource.clone()];
            let out = env.kms.fhir_protect(&env.ctx, &policy, &mut items).await.unwrap();
            if out[0].is_err() {
                assert_eq!(items[0], resource, "failed items are untouched");
                return;
            }
            let out = env.kms.fhir_unprotect(&env.ctx, &policy, &mut items).await.unwrap();
            if let Err(e) = &out[0] {
                // Only a resource that already held our extensions can fail here.
                assert!(e.to_string().contains("present") || matches!(e.error, KmsError::Decrypt), "{e}");
                return;
            }
            // The same JSON value; key order too, except where random input put an
            // `_element` sibling away from its element (FHIR JSON keeps them adjacent, and
            // the fixture and shared-data tests check byte-exact output).
            assert_eq!(items[0], resource);
        });
    }
}
