// What `import ZCache` brings with it: the key types of TMem (ObjectID,
// PoolID, ClientID, TMemKey, PoolKind), the swap device types (SwapDevice,
// SwapEntry, ...), and `pageSize`, so users need one import.
@_exported import SwapDevice
@_exported import TMem
@_exported import ZCacheSupport
