//! Built-in scorers. They implement the same [`crate::Scorer`] trait a
//! plugin does, and use nothing a plugin could not.

mod survey;

use std::sync::Arc;

pub use survey::{CesScorer, CsatScorer, NpsScorer, ResponseCountScorer};

use crate::scorer::Scorer;
use crate::validate::SurveySettings;

/// Every built-in scorer, configured with the tenant-wide survey settings.
pub fn builtin(settings: &SurveySettings) -> Vec<Arc<dyn Scorer>> {
    vec![
        Arc::new(CsatScorer::new(settings.clone())),
        Arc::new(CesScorer::new(settings.clone())),
        Arc::new(NpsScorer::new()),
        Arc::new(ResponseCountScorer::new()),
    ]
}
