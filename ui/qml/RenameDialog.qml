// Asks for a conversation's new title.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

Dialog {
    id: dialog
    property var conversationId: 0
    property string currentTitle: ""
    signal renamed(var id, string title)

    title: qsTr("Rename conversation")
    modal: true
    padding: 16
    anchors.centerIn: Overlay.overlay
    standardButtons: Dialog.Ok | Dialog.Cancel
    onOpened: { field.text = currentTitle; field.forceActiveFocus(); field.selectAll() }
    onAccepted: if (field.text.trim().length > 0) renamed(conversationId, field.text)

    TextField {
        id: field
        implicitWidth: fm.averageCharacterWidth * 48
        selectByMouse: true
        Accessible.name: qsTr("Conversation title")
        onAccepted: dialog.accept()
    }
    FontMetrics { id: fm }
}
