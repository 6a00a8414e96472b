//! What the console and its lab both need to agree on: the console's compact pod
//! type and a pod's STATUS/READY/RESTARTS/AGE exactly as `kubectl get pods` prints
//! them. The lab's API server builds its server-side Tables with the same code the
//! console's rows use, so the two can never disagree about a status string.

pub mod pod;
pub mod pod_status;
pub mod shared;
pub mod stamp;
pub mod uid;
pub mod word;
