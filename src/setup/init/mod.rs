//! `kcops setup init`: the form ([`form`]), its validation, the kubeadm config it
//! produces ([`config`]), the add-on manifests ([`addon`]), running kubeadm with its
//! phases as progress ([`phases`]), and the terminal wizard ([`tui`]).

pub mod tui;
