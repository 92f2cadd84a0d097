pub struct SqlStore;
