//! Reading events from JSON Lines or CSV.
//!
//! JSON Lines use the proto3 JSON form of `rapport.v1.Event`, field names as
//! in the .proto file:
//! `{"id":"r1","account_id":"acme","time":"2026-11-01T10:00:00Z",
//!   "labels":{"segment":"smb"},"survey_response":{"kind":"SURVEY_KIND_NPS","score":9}}`.
//!
//! CSV carries survey responses, one per row, with the header
//! `id,account_id,time,kind,score,scale_min,scale_max,comment`; any other
//! column is a label. `kind` is csat, ces or nps; an empty score is a
//! skipped answer.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{Context, bail};
use rapport::proto;

/// Input formats of `rapport ingest`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EventFormat {
    /// One proto3-JSON event per line.
    Jsonl,
    /// Survey responses, one per row.
    Csv,
}

impl EventFormat {
    /// CSV for `.csv` files, JSON Lines otherwise.
    pub fn guess(path: Option<&Path>) -> Self {
        match path.and_then(|p| p.extension()).and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("csv") => EventFormat::Csv,
            _ => EventFormat::Jsonl,
        }
    }
}

/// Events read from a file, with the line each came from (for messages).
#[derive(Debug, Default)]
pub struct EventsFile {
    /// The events, in file order.
    pub events: Vec<proto::Event>,
    /// The 1-based line number of each event.
    pub lines: Vec<usize>,
    /// Malformed lines left out (with `skip_invalid`): line number and why.
    pub skipped: Vec<(usize, String)>,
}

impl EventsFile {
    /// Keeps `event` from `line`.
    fn push(&mut self, line: usize, event: proto::Event) {
        self.events.push(event);
        self.lines.push(line);
    }

    /// A malformed `line`: left out and noted with `skip_invalid`, else the
    /// error that stops the read before anything is sent.
    fn malformed(&mut self, line: usize, why: anyhow::Error, skip_invalid: bool) -> anyhow::Result<()> {
        let why = format!("{why:#}");
        if skip_invalid {
            self.skipped.push((line, why));
            Ok(())
        } else {
            bail!("line {line}: {why} (nothing was sent; --skip-invalid sends the other lines)")
        }
    }
}

/// Reads all events from `path` (stdin when `None`). A malformed line stops
/// the read with an error naming the line, so nothing is sent from a file
/// with a mistake; with `skip_invalid` it is left out and listed instead.
pub fn read_events(
    path: Option<&Path>,
    format: EventFormat,
    skip_invalid: bool,
) -> anyhow::Result<EventsFile> {
    let reader: Box<dyn Read> = match path {
        Some(path) => {
            Box::new(std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?)
        }
        None => Box::new(std::io::stdin()),
    };
    match format {
        EventFormat::Jsonl => read_jsonl(BufReader::new(reader), skip_invalid),
        EventFormat::Csv => read_csv(reader, skip_invalid),
    }
}

fn read_jsonl(reader: impl BufRead, skip_invalid: bool) -> anyhow::Result<EventsFile> {
    let mut file = EventsFile::default();
    for (index, line) in reader.lines().enumerate() {
        let number = index + 1;
        let line = line.with_context(|| format!("reading line {number}"))?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<proto::Event>(&line) {
            Ok(event) => file.push(number, event),
            Err(error) => file.malformed(
                number,
                anyhow::Error::new(error).context("not a rapport.v1.Event"),
                skip_invalid,
            )?,
        }
    }
    Ok(file)
}

/// The CSV columns with a meaning; any other column is a label.
const CSV_COLUMNS: [&str; 8] =
    ["id", "account_id", "time", "kind", "score", "scale_min", "scale_max", "comment"];

fn read_csv(reader: impl Read, skip_invalid: bool) -> anyhow::Result<EventsFile> {
    let mut csv = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(reader);
    let headers = csv.headers().context("reading the CSV header")?.clone();
    for needed in ["id", "time", "kind"] {
        if !headers.iter().any(|h| h == needed) {
            bail!("the CSV header needs at least id, time and kind columns");
        }
    }
    let mut file = EventsFile::default();
    for (index, record) in csv.records().enumerate() {
        // The header is line 1.
        let line = record.as_ref().ok().and_then(|r| r.position()).map_or(index + 2, |p| p.line() as usize);
        let event = record.context("malformed CSV").and_then(|record| csv_event(&headers, &record));
        match event {
            Ok(event) => file.push(line, event),
            Err(why) => file.malformed(line, why, skip_invalid)?,
        }
    }
    Ok(file)
}

/// The survey response of one CSV row.
fn csv_event(headers: &csv::StringRecord, record: &csv::StringRecord) -> anyhow::Result<proto::Event> {
    let field = |name: &str| headers.iter().position(|h| h == name).and_then(|i| record.get(i)).unwrap_or("");
    let time = super::wire::parse_time(field("time")).context("time")?;
    let kind = match field("kind").to_ascii_lowercase().as_str() {
        "csat" => proto::SurveyKind::Csat,
        "ces" => proto::SurveyKind::Ces,
        "nps" => proto::SurveyKind::Nps,
        other => bail!("kind must be csat, ces or nps, got {other:?}"),
    };
    let number = |name: &str| -> anyhow::Result<Option<i32>> {
        let text = field(name);
        if text.is_empty() {
            return Ok(None);
        }
        Ok(Some(text.parse().with_context(|| format!("{name} {text:?} is not an integer"))?))
    };
    let scale = match (number("scale_min")?, number("scale_max")?) {
        (Some(min), Some(max)) => Some(proto::Scale { min, max }),
        (None, None) => None,
        _ => bail!("give both scale_min and scale_max, or neither"),
    };
    let labels: HashMap<String, String> = headers
        .iter()
        .zip(record.iter())
        .filter(|(h, v)| !CSV_COLUMNS.contains(h) && !v.is_empty())
        .map(|(h, v)| (h.to_owned(), v.to_owned()))
        .collect();
    Ok(proto::Event {
        id: field("id").to_owned(),
        account_id: field("account_id").to_owned(),
        time: Some(time),
        labels,
        payload: Some(proto::event::Payload::SurveyResponse(proto::SurveyResponse {
            kind: kind.into(),
            score: number("score")?,
            scale,
            comment: field("comment").to_owned(),
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_become_survey_events_with_extra_columns_as_labels() -> anyhow::Result<()> {
        let text = "id,account_id,time,kind,score,scale_min,scale_max,comment,segment\n\
                    r1,acme,2026-11-01T10:00:00Z,ces,6,1,7,easy enough,smb\n\
                    r2,,2026-11-01T11:00:00Z,NPS,,,,,\n";
        let file = read_csv(text.as_bytes(), false)?;
        assert_eq!(file.lines, vec![2, 3]);
        let first = &file.events[0];
        assert_eq!(first.labels.get("segment").map(String::as_str), Some("smb"));
        let Some(proto::event::Payload::SurveyResponse(survey)) = &first.payload else {
            anyhow::bail!("expected a survey response");
        };
        assert_eq!(survey.score, Some(6));
        assert_eq!(survey.scale, Some(proto::Scale { min: 1, max: 7 }));
        let Some(proto::event::Payload::SurveyResponse(skipped)) = &file.events[1].payload else {
            anyhow::bail!("expected a survey response");
        };
        assert_eq!((skipped.kind, skipped.score), (proto::SurveyKind::Nps as i32, None));
        assert!(file.events[1].labels.is_empty());
        Ok(())
    }

    #[test]
    fn jsonl_uses_the_proto_json_form() -> anyhow::Result<()> {
        let line = r#"{"id":"r1","time":"2026-11-01T10:00:00Z","labels":{"region":"eu"},"survey_response":{"kind":"SURVEY_KIND_NPS","score":0}}"#;
        let file = read_jsonl(format!("{line}\n\n").as_bytes(), false)?;
        assert_eq!(file.events.len(), 1);
        let Some(proto::event::Payload::SurveyResponse(survey)) = &file.events[0].payload else {
            anyhow::bail!("expected a survey response");
        };
        assert_eq!(survey.score, Some(0));
        assert_eq!(file.events[0].time.map(|t| t.seconds), Some(1_793_527_200));
        Ok(())
    }

    #[test]
    fn malformed_line_stops_the_read_naming_line_and_reason() {
        let error =
            read_jsonl("{\"id\":\"a\"}\nnot json\n".as_bytes(), false).err().map(|e| format!("{e:#}"));
        let error = error.unwrap_or_default();
        assert!(error.starts_with("line 2: not a rapport.v1.Event: expected ident"), "{error}");
        assert!(error.contains("nothing was sent"), "{error}");
    }

    #[test]
    fn skip_invalid_leaves_out_malformed_lines_and_lists_them() -> anyhow::Result<()> {
        let jsonl = "{\"id\":\"a\"}\nnot json\n\n{\"id\":\"b\"}\n{\"id\":7}\n";
        let file = read_jsonl(jsonl.as_bytes(), true)?;
        assert_eq!(file.lines, vec![1, 4]);
        let skipped: Vec<usize> = file.skipped.iter().map(|(line, _)| *line).collect();
        assert_eq!(skipped, vec![2, 5]);
        assert!(
            file.skipped[1].1.starts_with("not a rapport.v1.Event: invalid type: integer `7`"),
            "{:?}",
            file.skipped
        );

        let csv = "id,time,kind,score\n\
                   r1,2026-11-01T10:00:00Z,nps,9\n\
                   r2,yesterday,nps,9\n\
                   r3,2026-11-01T10:00:00Z,stars,9\n\
                   r4,2026-11-01T10:00:00Z,nps,nine\n\
                   r5,2026-11-01T10:00:00Z,csat,5\n";
        let file = read_csv(csv.as_bytes(), true)?;
        assert_eq!(file.lines, vec![2, 6]);
        let reasons: Vec<String> = file.skipped.iter().map(|(line, why)| format!("{line}: {why}")).collect();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert!(reasons[0].starts_with("3: time: \"yesterday\" is not an RFC 3339 time"), "{reasons:?}");
        assert_eq!(reasons[1], "4: kind must be csat, ces or nps, got \"stars\"");
        assert!(reasons[2].starts_with("5: score \"nine\" is not an integer"), "{reasons:?}");
        let error = read_csv(csv.as_bytes(), false).err().map(|e| format!("{e:#}")).unwrap_or_default();
        assert!(error.starts_with("line 3: time"), "{error}");
        Ok(())
    }
}
