//! EHR privacy context: who the users are, which patients are flagged, and who cares
//! for whom; plus the enrichment that turns an EHR access event into `ehr.*` facts.
//!
//! Formats (also in `docs/detection.md`):
//!
//! * JSON: `{"users":[…], "patients":[…], "care":[…], "working_hours":{…}}` with the
//!   fields of [`User`], [`Patient`], [`CareRelationship`] and [`WorkingHours`].
//! * CSV (header row required, RFC 4180 quoting): `users.csv` with
//!   `id,name,surname,department,status,address`; `patients.csv` with
//!   `id,surname,address,flags,employee_user_id` (`flags` separated by `;`);
//!   `care.csv` with `user_id,patient_id,valid_from,valid_until` (RFC 3339 or empty).

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Datelike, Duration, Timelike, Utc, Weekday};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error::ContextError;

/// Largest context input accepted (a directory of a few hundred thousand rows).
pub const MAX_CONTEXT_BYTES: usize = 256 << 20;

/// An account's state in the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum UserStatus {
    /// May work.
    #[default]
    Active,
    /// Suspended.
    Disabled,
    /// Left the organisation.
    Terminated,
}

impl UserStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
            Self::Terminated => "terminated",
        }
    }
}

/// A member of staff in the user directory.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    /// The id the EHR logs as `user.id` (or `user.name`).
    pub id: String,
    /// Given name.
    #[serde(default)]
    pub name: String,
    /// Family name.
    #[serde(default)]
    pub surname: String,
    /// Department or ward.
    #[serde(default)]
    pub department: String,
    /// Account state.
    #[serde(default)]
    pub status: UserStatus,
    /// Home address (compared after normalisation).
    #[serde(default)]
    pub address: String,
    /// Known average record accesses per working day, to seed the baseline.
    #[serde(default)]
    pub baseline_daily: Option<f64>,
}

/// A flag on a patient record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum PatientFlag {
    /// Very important person (celebrity, executive).
    Vip,
    /// The patient is a member of staff.
    Employee,
    /// Restricted record (e.g. protected address, sensitive care).
    Restricted,
}

impl PatientFlag {
    fn as_str(self) -> &'static str {
        match self {
            Self::Vip => "vip",
            Self::Employee => "employee",
            Self::Restricted => "restricted",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "vip" => Some(Self::Vip),
            "employee" => Some(Self::Employee),
            "restricted" => Some(Self::Restricted),
            _ => None,
        }
    }
}

/// Facts about a patient.
#[derive(Debug, Clone, Deserialize)]
pub struct Patient {
    /// Logical id (`Patient/123` → `123`).
    pub id: String,
    /// Family name.
    #[serde(default)]
    pub surname: String,
    /// Home address.
    #[serde(default)]
    pub address: String,
    /// Flags.
    #[serde(default)]
    pub flags: Vec<PatientFlag>,
    /// The user id when the patient is a member of staff.
    #[serde(default)]
    pub employee_user_id: Option<String>,
}

/// A care relationship: this user treats this patient, optionally for a period.
#[derive(Debug, Clone, Deserialize)]
pub struct CareRelationship {
    /// The practitioner.
    pub user_id: String,
    /// The patient.
    pub patient_id: String,
    /// Start (inclusive); open when absent.
    #[serde(default)]
    pub valid_from: Option<DateTime<Utc>>,
    /// End (exclusive); open when absent.
    #[serde(default)]
    pub valid_until: Option<DateTime<Utc>>,
}

/// Working hours: accesses outside them are `ehr.access.after_hours`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default)]
pub struct WorkingHours {
    /// First working hour (local, 0–23).
    pub start_hour: u32,
    /// First hour after work (local, 1–24).
    pub end_hour: u32,
    /// Local time = UTC + this many minutes.
    pub utc_offset_minutes: i32,
    /// Whether Saturday and Sunday are outside working hours.
    pub weekends_off: bool,
}

impl Default for WorkingHours {
    fn default() -> Self {
        Self {
            start_hour: 7,
            end_hour: 19,
            utc_offset_minutes: 0,
            weekends_off: true,
        }
    }
}

impl WorkingHours {
    /// Whether `at` falls outside working hours.
    pub fn is_after_hours(&self, at: DateTime<Utc>) -> bool {
        let local = at + Duration::minutes(i64::from(self.utc_offset_minutes));
        let weekend = matches!(local.weekday(), Weekday::Sat | Weekday::Sun);
        let hour = local.hour();
        (self.weekends_off && weekend) || hour < self.start_hour || hour >= self.end_hour
    }
}

#[derive(Deserialize, Default)]
struct ContextFile {
    #[serde(default)]
    users: Vec<User>,
    #[serde(default)]
    patients: Vec<Patient>,
    #[serde(default)]
    care: Vec<CareRelationship>,
    #[serde(default)]
    working_hours: WorkingHours,
}

/// A care relationship's validity: (from inclusive, until exclusive), open when `None`.
type Validity = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// The EHR context the engine enriches record accesses with.
#[derive(Debug, Clone, Default)]
pub struct Context {
    users: HashMap<String, User>,
    patients: HashMap<String, Patient>,
    care: HashMap<(String, String), Vec<Validity>>,
    /// Working hours for the after-hours fact.
    pub working_hours: WorkingHours,
}

impl Context {
    /// An empty context (no users, patients or relationships; default working hours).
    pub fn new() -> Self {
        Self::default()
    }

    /// Parse the JSON format.
    ///
    /// # Errors
    /// [`ContextError::Json`] when the document does not have the documented shape.
    pub fn from_json(text: &str) -> Result<Self, ContextError> {
        if text.len() > MAX_CONTEXT_BYTES {
            return Err(ContextError::TooLarge {
                limit: MAX_CONTEXT_BYTES,
            });
        }
        let file: ContextFile = serde_json::from_str(text).map_err(|e| ContextError::Json {
            reason: format!(
                "line {} column {}: {:?}",
                e.line(),
                e.column(),
                e.classify()
            ),
        })?;
        let mut ctx = Self {
            working_hours: file.working_hours,
            ..Self::default()
        };
        file.users.into_iter().for_each(|u| ctx.add_user(u));
        file.patients.into_iter().for_each(|p| ctx.add_patient(p));
        file.care.into_iter().for_each(|c| ctx.add_care(c));
        Ok(ctx)
    }

    /// Parse the three CSV tables (any may be empty text).
    ///
    /// # Errors
    /// [`ContextError::Csv`] naming the table and line of the first bad row.
    pub fn from_csv(users: &str, patients: &str, care: &str) -> Result<Self, ContextError> {
        if users.len() + patients.len() + care.len() > MAX_CONTEXT_BYTES {
            return Err(ContextError::TooLarge {
                limit: MAX_CONTEXT_BYTES,
            });
        }
        let mut ctx = Self::new();
        for (line, row) in csv_rows("users", users, 6)? {
            let [id, name, surname, department, status, address] = row.as_slice() else {
                return Err(csv_err("users", line, "wrong number of columns"));
            };
            let status = match status.trim().to_ascii_lowercase().as_str() {
                "" | "active" => UserStatus::Active,
                "disabled" => UserStatus::Disabled,
                "terminated" => UserStatus::Terminated,
                _ => {
                    return Err(csv_err(
                        "users",
                        line,
                        "status must be active, disabled or terminated",
                    ));
                }
            };
            ctx.add_user(User {
                id: id.clone(),
                name: name.clone(),
                surname: surname.clone(),
                department: department.clone(),
                status,
                address: address.clone(),
                baseline_daily: None,
            });
        }
        for (line, row) in csv_rows("patients", patients, 5)? {
            let [id, surname, address, flag_list, employee] = row.as_slice() else {
                return Err(csv_err("patients", line, "wrong number of columns"));
            };
            let mut flags = Vec::new();
            for flag in flag_list.split(';').filter(|f| !f.trim().is_empty()) {
                flags.push(PatientFlag::parse(flag).ok_or_else(|| {
                    csv_err(
                        "patients",
                        line,
                        "flags must be vip, employee or restricted",
                    )
                })?);
            }
            let employee = Some(employee.trim().to_owned()).filter(|s| !s.is_empty());
            ctx.add_patient(Patient {
                id: id.clone(),
                surname: surname.clone(),
                address: address.clone(),
                flags,
                employee_user_id: employee,
            });
        }
        for (line, row) in csv_rows("care", care, 4)? {
            let [user_id, patient_id, from, until] = row.as_slice() else {
                return Err(csv_err("care", line, "wrong number of columns"));
            };
            let time = |text: &str| -> Result<Option<DateTime<Utc>>, ContextError> {
                if text.trim().is_empty() {
                    return Ok(None);
                }
                DateTime::parse_from_rfc3339(text.trim())
                    .map(|t| Some(t.with_timezone(&Utc)))
                    .map_err(|_| csv_err("care", line, "validity must be RFC 3339 or empty"))
            };
            ctx.add_care(CareRelationship {
                user_id: user_id.clone(),
                patient_id: patient_id.clone(),
                valid_from: time(from)?,
                valid_until: time(until)?,
            });
        }
        Ok(ctx)
    }

    /// Add or replace a user.
    pub fn add_user(&mut self, user: User) {
        self.users.insert(user.id.clone(), user);
    }

    /// Add or replace a patient.
    pub fn add_patient(&mut self, patient: Patient) {
        self.patients.insert(patient.id.clone(), patient);
    }

    /// Add a care relationship.
    pub fn add_care(&mut self, care: CareRelationship) {
        self.care
            .entry((care.user_id, care.patient_id))
            .or_default()
            .push((care.valid_from, care.valid_until));
    }

    /// Look a user up.
    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.get(id)
    }

    /// Whether `user` has a care relationship with `patient` valid at `at`.
    pub fn has_care(&self, user: &str, patient: &str, at: DateTime<Utc>) -> bool {
        self.care
            .get(&(user.to_owned(), patient.to_owned()))
            .is_some_and(|periods| {
                periods.iter().any(|(from, until)| {
                    from.is_none_or(|f| f <= at) && until.is_none_or(|u| at < u)
                })
            })
    }

    /// Add the `ehr.*` facts for one record access. Returns whether a care
    /// relationship explains it.
    pub(crate) fn enrich(
        &self,
        ehr: &mut Map<String, Value>,
        user_id: Option<&str>,
        patient_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> bool {
        let user = user_id.and_then(|id| self.users.get(id));
        let patient = patient_id.and_then(|id| self.patients.get(id));
        let mut access = Map::new();
        access.insert(
            "after_hours".into(),
            self.working_hours.is_after_hours(at).into(),
        );
        if let Some(user) = user
            && let Some(entry) = ehr_object(ehr, "user")
        {
            entry.insert("department".into(), user.department.clone().into());
            entry.insert("status".into(), user.status.as_str().into());
        }
        if let Some(patient) = patient {
            let flags: Vec<Value> = patient.flags.iter().map(|f| f.as_str().into()).collect();
            if let Some(entry) = ehr_object(ehr, "patient") {
                entry.insert("flags".into(), flags.into());
            }
        }
        let explained = match (user_id, patient_id) {
            (Some(u), Some(p)) => self.has_care(u, p, at),
            _ => false,
        };
        if let (Some(user), Some(patient)) = (user, patient) {
            let is_self = patient.employee_user_id.as_deref() == Some(user.id.as_str());
            access.insert("self".into(), is_self.into());
            access.insert(
                "same_surname".into(),
                (!is_self && same_text(&user.surname, &patient.surname)).into(),
            );
            access.insert(
                "same_address".into(),
                (!is_self && same_text(&user.address, &patient.address)).into(),
            );
            access.insert(
                "coworker".into(),
                (!is_self && self.coworker(user, patient)).into(),
            );
        }
        access.insert("explained".into(), explained.into());
        if let Some(entry) = ehr_object(ehr, "access") {
            entry.extend(access);
        }
        explained
    }

    fn coworker(&self, user: &User, patient: &Patient) -> bool {
        let Some(colleague) = patient
            .employee_user_id
            .as_deref()
            .and_then(|id| self.users.get(id))
        else {
            return false;
        };
        !user.department.is_empty() && same_text(&user.department, &colleague.department)
    }
}

/// The object under `key`, replacing a non-object value (always `Some`).
fn ehr_object<'a>(
    ehr: &'a mut Map<String, Value>,
    key: &str,
) -> Option<&'a mut Map<String, Value>> {
    let slot = ehr
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
}

/// Case- and whitespace-insensitive equality; empty never matches.
fn same_text(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.split(|c: char| c.is_whitespace() || c == ',' || c == '.')
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
    };
    let (a, b) = (norm(a), norm(b));
    !a.is_empty() && a == b
}

fn csv_err(table: &'static str, line: usize, reason: &'static str) -> ContextError {
    ContextError::Csv {
        table,
        line,
        reason,
    }
}

/// Rows after the header, each with exactly `columns` fields, with line numbers.
fn csv_rows(
    table: &'static str,
    text: &str,
    columns: usize,
) -> Result<Vec<(usize, Vec<String>)>, ContextError> {
    let mut rows = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1usize;
    let mut row_line = 1usize;
    let mut field = String::new();
    let mut row: Vec<String> = Vec::new();
    let mut quoted = false;
    let mut at_field_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if at_field_start => {
                quoted = true;
                at_field_start = false;
            }
            ',' => {
                row.push(std::mem::take(&mut field));
                at_field_start = true;
            }
            '\r' => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push((row_line, std::mem::take(&mut row)));
                line += 1;
                row_line = line;
                at_field_start = true;
            }
            _ => {
                field.push(c);
                at_field_start = false;
            }
        }
    }
    if quoted {
        return Err(csv_err(table, row_line, "unterminated quoted field"));
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push((row_line, row));
    }
    let mut out = Vec::new();
    for (number, row) in rows.into_iter().skip(1) {
        if row.len() == 1 && row.first().is_some_and(|f| f.trim().is_empty()) {
            continue;
        }
        if row.len() != columns {
            return Err(csv_err(table, number, "wrong number of columns"));
        }
        out.push((number, row));
    }
    Ok(out)
}

/// Rolling per-user daily access counts, for `ehr.user.volume_ratio`.
///
/// Method: for each user the counts of the last [`Baseline::DAYS`] UTC days are kept.
/// The baseline is the mean of the *previous* days that saw any access (today is
/// excluded, so a burst cannot raise its own baseline), or the directory's
/// `baseline_daily` while fewer than [`Baseline::MIN_DAYS`] days are known. The
/// baseline never goes below `floor` accesses a day, so a quiet user's first busy
/// day does not look like an attack. Ratio = today's count so far / baseline.
#[derive(Debug)]
pub(crate) struct Baseline {
    users: HashMap<String, VecDeque<(i64, u32)>>,
    max_users: usize,
    floor: f64,
    /// Counted since the last [`Baseline::take_state`].
    dirty: bool,
}

impl Baseline {
    /// Days of history kept per user.
    pub(crate) const DAYS: usize = 28;
    /// Days of history needed before the user's own history is trusted.
    pub(crate) const MIN_DAYS: usize = 3;

    pub(crate) fn new(max_users: usize, floor: f64) -> Self {
        Self {
            users: HashMap::new(),
            max_users,
            floor,
            dirty: false,
        }
    }

    /// The counts as a document to keep across restarts, when any changed since the
    /// last call: `{"version": 1, "users": {"USER": [[DAY, COUNT], …]}}` (days since
    /// the epoch, UTC).
    pub(crate) fn take_state(&mut self) -> Option<Value> {
        if !std::mem::take(&mut self.dirty) {
            return None;
        }
        let users: serde_json::Map<String, Value> = self
            .users
            .iter()
            .map(|(user, days)| {
                let days: Vec<Value> = days.iter().map(|(d, n)| json!([d, n])).collect();
                (user.clone(), Value::Array(days))
            })
            .collect();
        Some(json!({"version": 1, "users": users}))
    }

    /// Counts from a document [`Baseline::take_state`] made, merged over what is known
    /// (a day counted both here and there keeps the larger count). Malformed entries and
    /// days older than [`Baseline::DAYS`] before the newest are skipped; users past
    /// `max_users` are not taken. Returns how many users were taken.
    pub(crate) fn restore(&mut self, state: &Value) -> usize {
        let Some(users) = state
            .get("users")
            .and_then(Value::as_object)
            .filter(|_| state.get("version") == Some(&json!(1)))
        else {
            return 0;
        };
        let mut taken = 0;
        for (user, days) in users {
            if !self.users.contains_key(user) && self.users.len() >= self.max_users {
                break;
            }
            let mut read: Vec<(i64, u32)> = days
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|pair| {
                    let day = pair.get(0)?.as_i64()?;
                    let n = u32::try_from(pair.get(1)?.as_u64()?).ok()?;
                    Some((day, n))
                })
                .collect();
            let known = self.users.entry(user.clone()).or_default();
            read.extend(known.drain(..));
            read.sort_unstable();
            let mut merged: VecDeque<(i64, u32)> = VecDeque::with_capacity(read.len());
            for (day, n) in read {
                match merged.back_mut() {
                    Some((d, m)) if *d == day => *m = (*m).max(n),
                    _ => merged.push_back((day, n)),
                }
            }
            let newest = merged.back().map_or(0, |(d, _)| *d);
            merged.retain(|(d, _)| *d > newest.saturating_sub(Self::DAYS as i64));
            *known = merged;
            taken += 1;
        }
        taken
    }

    /// Count one access and return the ratio against the user's baseline.
    pub(crate) fn record(&mut self, user: &str, seeded: Option<f64>, at: DateTime<Utc>) -> f64 {
        let day = at.timestamp().div_euclid(86_400);
        self.dirty = true;
        if !self.users.contains_key(user) && self.users.len() >= self.max_users {
            self.evict_stalest();
        }
        let days = self.users.entry(user.to_owned()).or_default();
        match days.back_mut() {
            Some((d, n)) if *d == day => *n = n.saturating_add(1),
            Some((d, _)) if *d > day => {} // out-of-order old event: ignore for counting
            _ => days.push_back((day, 1)),
        }
        while days
            .front()
            .is_some_and(|(d, _)| *d <= day - Self::DAYS as i64)
        {
            days.pop_front();
        }
        let today = days
            .back()
            .filter(|(d, _)| *d == day)
            .map_or(1, |(_, n)| *n);
        let previous: Vec<u32> = days
            .iter()
            .filter(|(d, _)| *d < day)
            .map(|(_, n)| *n)
            .collect();
        let own = if previous.len() >= Self::MIN_DAYS {
            Some(f64::from(previous.iter().sum::<u32>()) / previous.len() as f64)
        } else {
            None
        };
        let base = own.or(seeded).unwrap_or(self.floor).max(self.floor);
        f64::from(today) / base
    }

    fn evict_stalest(&mut self) {
        let stalest = self
            .users
            .iter()
            .min_by_key(|(_, days)| days.back().map_or(i64::MIN, |(d, _)| *d))
            .map(|(k, _)| k.clone());
        if let Some(key) = stalest {
            self.users.remove(&key);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.users.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    #[test]
    fn working_hours_respect_offset_and_weekends() {
        let hours = WorkingHours {
            utc_offset_minutes: -300,
            ..WorkingHours::default()
        };
        // Tuesday 13:00 UTC is 08:00 local: working.
        assert!(!hours.is_after_hours(t("2026-03-03T13:00:00Z")));
        // Tuesday 11:00 UTC is 06:00 local: before work.
        assert!(hours.is_after_hours(t("2026-03-03T11:00:00Z")));
        // Saturday noon local.
        assert!(hours.is_after_hours(t("2026-03-07T17:00:00Z")));
    }

    #[test]
    fn text_comparison_ignores_case_spacing_and_punctuation() {
        assert!(same_text(
            "1 Elm Street, Springfield",
            "1  elm street springfield."
        ));
        assert!(!same_text("", ""));
        assert!(!same_text("Lee", "Leeds"));
    }

    #[test]
    fn csv_quotes_and_line_numbers() {
        let rows = csv_rows("users", "a,b\n\"x,\"\"y\"\"\",z\r\n\n1,2", 2).expect("rows");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0], (2, vec!["x,\"y\"".to_owned(), "z".to_owned()]));
        assert_eq!(rows[1].0, 4);
    }

    #[test]
    fn baseline_uses_previous_days_and_floor() {
        let mut b = Baseline::new(10, 5.0);
        // Three days of 10 accesses.
        for day in 0..3 {
            for _ in 0..10 {
                b.record("u", None, t("2026-03-02T09:00:00Z") + Duration::days(day));
            }
        }
        // Day 4: the 50th access is 5x the baseline of 10.
        let mut ratio = 0.0;
        for _ in 0..50 {
            ratio = b.record("u", None, t("2026-03-05T09:00:00Z"));
        }
        assert!((ratio - 5.0).abs() < 1e-9, "{ratio}");
        // A new user is judged against the floor (or the seeded baseline).
        assert!((b.record("new", None, t("2026-03-05T09:00:00Z")) - 0.2).abs() < 1e-9);
        assert!((b.record("seeded", Some(50.0), t("2026-03-05T09:00:00Z")) - 0.02).abs() < 1e-9);
    }

    #[test]
    fn baseline_state_survives_a_restart() {
        let mut b = Baseline::new(10, 5.0);
        assert!(b.take_state().is_none(), "nothing counted, nothing to keep");
        for day in 1..=3 {
            for _ in 0..40 {
                b.record("ann", None, t(&format!("2026-03-0{day}T10:00:00Z")));
            }
        }
        let state = b.take_state().expect("counted");
        assert!(b.take_state().is_none(), "unchanged since");
        assert_eq!(state["users"]["ann"].as_array().map(Vec::len), Some(3));

        let mut fresh = Baseline::new(10, 5.0);
        assert_eq!(fresh.restore(&state), 1);
        // Day 4: the 200th access is 5x the restored baseline of 40, not 40x the floor.
        let mut ratio = 0.0;
        for _ in 0..200 {
            ratio = fresh.record("ann", None, t("2026-03-04T10:00:00Z"));
        }
        assert!((ratio - 5.0).abs() < 1e-9, "{ratio}");
        // Restoring again merges: the larger count of a day stays, nothing doubles.
        assert_eq!(fresh.restore(&state), 1);
        let ratio = fresh.record("ann", None, t("2026-03-04T10:00:00Z"));
        assert!((ratio - 201.0 / 40.0).abs() < 1e-9, "{ratio}");

        for bad in [
            json!({"version": 2, "users": {"x": [[1, 1]]}}),
            json!({"version": 1, "users": []}),
            json!("nope"),
        ] {
            assert_eq!(Baseline::new(10, 5.0).restore(&bad), 0, "{bad}");
        }
        let mut b = Baseline::new(10, 5.0);
        assert_eq!(
            b.restore(&json!({"version": 1, "users": {"x": [[1, -1], "a", [2, 3]]}})),
            1
        );
        assert_eq!(b.take_state(), None, "restoring is not counting");
        let mut edge = Baseline::new(10, 5.0);
        let extreme = json!({"version": 1, "users": {"y": [[i64::MIN, 1]], "z": [[i64::MAX, 1]]}});
        assert_eq!(
            edge.restore(&extreme),
            2,
            "extreme days neither panic nor wrap"
        );
        edge.record("y", None, t("2026-03-04T10:00:00Z"));
        edge.record("z", None, t("2026-03-04T10:00:00Z"));
        b.record("x", None, t("1970-01-04T00:00:00Z"));
        assert_eq!(
            b.take_state().unwrap()["users"]["x"],
            json!([[2, 3], [3, 1]]),
            "the malformed pairs were skipped"
        );
    }

    #[test]
    fn baseline_evicts_the_stalest_user_at_the_cap() {
        let mut b = Baseline::new(2, 1.0);
        b.record("old", None, t("2026-03-01T09:00:00Z"));
        b.record("mid", None, t("2026-03-02T09:00:00Z"));
        b.record("new", None, t("2026-03-03T09:00:00Z"));
        assert_eq!(b.len(), 2);
        assert!(!b.users.contains_key("old"));
    }
}
