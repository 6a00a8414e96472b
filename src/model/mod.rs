pub mod pod_status;
