/** Public surface of Tandem's wire protocol, shared by the server and the browser client. */
export {
  type AccessResponse,
  type ApiErrorResponse,
  type CreateLinkRequest,
  type CreateLinkResponse,
  type CreateRoomRequest,
  type CreateRoomResponse,
  isRoomMode,
  type RevokeRequest,
  type RevokeResponse,
  type RoomMode,
  type SetModeRequest,
  type SetModeResponse,
} from './access-api.ts'
export { CloseCode, type CloseCodeValue, closeCodeName } from './close-codes.ts'
export {
  ACCESS_LEVELS,
  type AccessLevel,
  type ClientMessage,
  encodeAccess,
  encodeAwareness,
  encodeSaved,
  encodeStorage,
  encodeSyncStep1,
  encodeSyncStep2,
  encodeSyncUpdate,
  isAccessLevel,
  MessageType,
  ProtocolError,
  readAccess,
  readClientMessage,
  readSaved,
  readStorage,
  StorageState,
  type StorageStateValue,
  SyncType,
  TANDEM_EXTENSIONS_PARAM,
} from './messages.ts'
export {
  isPresenceColor,
  isPresenceName,
  MAX_PRESENCE_NAME_LENGTH,
  presenceUserProblem,
  stripNameControls,
} from './presence.ts'
export { isValidRoomName, roomNameProblem } from './room-name.ts'
