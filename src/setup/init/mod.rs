//! `kcops setup init`: the form ([`form`]), its validation, the kubeadm config it
//! produces ([`config`]), running kubeadm with its phases as progress ([`phases`]),
//! and the terminal wizard ([`tui`]).

pub mod addon;
pub mod after;
pub mod config;
pub mod form;
mod machine;
pub mod phases;
pub mod tui;
