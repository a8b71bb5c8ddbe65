//! JSON Schemas of every JSON input and output of the C ABI, generated from the Rust types that
//! read or write them.
//!
//! Each shape is a Rust type deriving [`schemars::JsonSchema`] (its doc comments become the
//! schema's descriptions). [`SHAPES`] names them; `include/schemas/<name>.schema.json` and the
//! index `include/schemas/README.md` are generated from this table and committed.
//! `tests/schemas.rs` fails when a committed file differs from what the types generate; refresh
//! them with
//!
//! ```text
//! UPDATE_SCHEMAS=1 cargo test -p tenant-attach --test schemas
//! ```

use schemars::{JsonSchema, Schema};

use crate::actions::{ActionResult, Completion, Decision, DiscoveredUser, ManagedDevice};
use crate::config::Config;
use crate::onboarding::{EndpointCheck, OnboardingRecord, RegisterOptions, RegisterResult, UploadSettings};

/// Is the JSON an argument of the export, or what it writes to its out-parameter?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Input,
    Output,
}

/// One JSON shape of the C ABI.
pub struct Shape {
    /// The file name without `.schema.json`.
    pub name: &'static str,
    pub direction: Direction,
    /// The exports that take (input) or return (output) it, with the parameter's name for inputs
    /// (`ta_client_open(config_json)`).
    pub used_by: &'static [&'static str],
    generate: fn() -> Schema,
    /// The description of a schema whose root type has no doc comment of its own (an array).
    about: &'static str,
}

fn of<T: JsonSchema>() -> Schema {
    schemars::generate::SchemaSettings::draft2020_12().into_generator().into_root_schema_for::<T>()
}

/// `ta_client_trigger_action`'s devices: the ids, or the filter that lists them.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)] // A description of the argument, read by `json_arg` in two steps (src/ffi/operations.rs).
enum DeviceSelection {
    /// The managed device ids (GUIDs), as `ta_client_list_devices` returns them in `id`.
    Ids(Vec<String>),
    /// The devices a Graph `$filter` lists, each checked against it first.
    Filter(crate::ffi::FilteredDevices),
}

/// Every JSON input and output of the C ABI.
pub const SHAPES: &[Shape] = &[
    Shape { name: "config", direction: Direction::Input, used_by: &["ta_client_open(config_json)"], generate: of::<Config>, about: "" },
    Shape { name: "config", direction: Direction::Output, used_by: &["ta_client_config_json"], generate: of::<Config>, about: "" },
    Shape { name: "register-options", direction: Direction::Input, used_by: &["ta_client_register(options_json)"], generate: of::<RegisterOptions>, about: "" },
    Shape { name: "register-result", direction: Direction::Output, used_by: &["ta_client_register"], generate: of::<RegisterResult>, about: "" },
    Shape { name: "status", direction: Direction::Output, used_by: &["ta_client_status"], generate: of::<crate::client::Status>, about: "" },
    Shape {
        name: "upload-settings",
        direction: Direction::Input,
        used_by: &["ta_client_set_upload_settings(settings_json)"],
        generate: of::<UploadSettings>,
        about: "",
    },
    Shape { name: "onboarding-record", direction: Direction::Output, used_by: &["ta_client_set_upload_settings"], generate: of::<OnboardingRecord>, about: "" },
    Shape {
        name: "device-records",
        direction: Direction::Input,
        used_by: &["ta_client_sync_devices(devices_json)", "ta_client_sync_devices_file(path)"],
        generate: of::<crate::inventory::DeviceRecords>,
        about: "",
    },
    Shape {
        name: "sync-options",
        direction: Direction::Input,
        used_by: &["ta_client_sync_devices(options_json)", "ta_client_sync_devices_file(options_json)"],
        generate: of::<crate::ffi::SyncOptions>,
        about: "",
    },
    Shape {
        name: "sync-report",
        direction: Direction::Output,
        used_by: &["ta_client_sync_devices", "ta_client_sync_devices_file"],
        generate: of::<crate::sync::Report>,
        about: "",
    },
    Shape {
        name: "devices",
        direction: Direction::Output,
        used_by: &["ta_client_list_devices"],
        generate: of::<Vec<ManagedDevice>>,
        about: "The managed devices as the admin center sees them, every page: Microsoft Graph's managedDevice objects, passed on unchanged.",
    },
    Shape {
        name: "device-selection",
        direction: Direction::Input,
        used_by: &["ta_client_trigger_action(device_ids_json)"],
        generate: of::<DeviceSelection>,
        about: "",
    },
    Shape {
        name: "action-results",
        direction: Direction::Output,
        used_by: &["ta_client_trigger_action"],
        generate: of::<Vec<ActionResult>>,
        about: "One result per device, in the order the devices were given.",
    },
    Shape {
        name: "discovered-users",
        direction: Direction::Input,
        used_by: &["ta_client_receive_notifications(discovered_users_json)"],
        generate: of::<Vec<DiscoveredUser>>,
        about: "The site's discovered users (from Get-CMUser / SMS_R_User): who may start a device action.",
    },
    Shape {
        name: "decisions",
        direction: Direction::Output,
        used_by: &["ta_client_receive_notifications"],
        generate: of::<Vec<Decision>>,
        about: "One decision per notification received: authorized ones go to the ConfigMgr client, refused ones were reported back as failed.",
    },
    Shape { name: "completion", direction: Direction::Output, used_by: &["ta_client_complete_notification"], generate: of::<Completion>, about: "" },
    Shape {
        name: "endpoint-checks",
        direction: Direction::Output,
        used_by: &["ta_client_test_endpoints"],
        generate: of::<Vec<EndpointCheck>>,
        about: "The reachability of each internet endpoint (the gateway and its regions, aka.ms, the token service, Graph, or their overrides).",
    },
    Shape { name: "last-error", direction: Direction::Output, used_by: &["ta_last_error_json"], generate: crate::ffi::last_error_schema, about: "" },
];

impl Shape {
    /// The schema, as committed: `$schema`, then `$id`-less, titled with the shape's name.
    pub fn schema(&self) -> Schema {
        let mut schema = (self.generate)();
        if schema.get("description").is_none() && !self.about.is_empty() {
            schema.insert("description".to_owned(), self.about.into());
        }
        schema.insert("title".to_owned(), self.name.into());
        schema
    }
}

/// The schema named `name` (the file name without `.schema.json`).
pub fn schema(name: &str) -> Option<Schema> {
    SHAPES.iter().find(|s| s.name == name).map(Shape::schema)
}

/// Every file of `include/schemas/`: `(file name, content)`, the schemas and the index.
pub fn files() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for shape in SHAPES {
        let file = format!("{}.schema.json", shape.name);
        if files.iter().any(|(f, _)| *f == file) {
            continue;
        }
        let text = serde_json::to_string_pretty(&shape.schema()).unwrap_or_default();
        files.push((file, text + "\n"));
    }
    files.push(("README.md".to_owned(), index()));
    files
}

fn index() -> String {
    let mut text = String::from(
        "# JSON Schemas of the C ABI\n\n\
         GENERATED from the Rust types by `tests/schemas.rs` -- do not edit. After changing a type, regenerate with\n\n\
         ```sh\nUPDATE_SCHEMAS=1 cargo test -p tenant-attach --test schemas\n```\n\n\
         JSON Schema draft 2020-12. docs/FFI.md has the export-by-export table.\n\n\
         | Schema | Input or output | Of |\n|---|---|---|\n",
    );
    for shape in SHAPES {
        let direction = match shape.direction {
            Direction::Input => "input",
            Direction::Output => "output",
        };
        let used: Vec<String> = shape.used_by.iter().map(|u| format!("`{u}`")).collect();
        text.push_str(&format!("| [`{0}`]({0}.schema.json) | {direction} | {1} |\n", shape.name, used.join(", ")));
    }
    text
}
