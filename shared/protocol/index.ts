/** Public surface of Tandem's wire protocol, shared by the server and the browser client. */
export { CloseCode, type CloseCodeValue, closeCodeName } from './close-codes.ts'
export { encodeSaved, MessageType, readSaved, SyncType, TANDEM_EXTENSIONS_PARAM } from './messages.ts'
export { isValidRoomName, roomNameProblem } from './room-name.ts'
