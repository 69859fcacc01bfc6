use crate::helpers::spawn_app;
